/*
 * The parts of `vdc up` that run without the whole grid: the prerequisite check, the demo
 * deployment's file, what root refuses to trust in a grid folder (S2: attacks assert the
 * code and that nothing changed), and a moved /24. The whole grid runs in
 * test/e2e/grid-up.test.ts; the lock in grid-lock.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { hasCode, tempDir } from '../../test/support/ledger-fixture.ts';
import { requireCommand, requireRoot } from '../../test/support/requirements.ts';
import { Identity } from '../identity/index.ts';
import { demoDeployFile, demoPage } from './demo-vdc.ts';
import { checkGridFolder } from './grid-folder.ts';
import { processStartTicks } from './grid-state.ts';
import { gridDown, gridUp } from './local-grid.ts';
import { checkPrerequisites, nodesDataDir } from './local-netns-grid.ts';
import { openLog } from './netns-process.ts';
import { NetnsRun } from './netns-run.ts';
import { listRuns, readRecord } from './run-record.ts';

const NOBODY = 65534;

const folder = (t: TestContext) => tempDir(t, 'vdc-grid-unit-');

describe('vdc up without the grid', () => {
  test('names the Debian packages of every missing tool, before anything is made', (t) => {
    const empty = folder(t);
    assert.throws(
      () => checkPrerequisites(empty, join(empty, 'busybox')),
      (err: unknown) =>
        hasCode('GRID_PREREQUISITE_MISSING')(err) &&
        /iproute2, util-linux, crun, tar, openssl, busybox-static/.test((err as Error).message) &&
        /apt-get install -y iproute2 util-linux crun tar openssl busybox-static/.test(
          (err as Error).message,
        ),
    );
    assert.deepEqual(spawnSync('ls', [empty], { encoding: 'utf8' }).stdout, '', 'nothing made');
  });

  test('the demo page names its node, and its deploy file is a container and a gateway workload', () => {
    const node = { label: 'node2', id: 7, address: '10.128.0.4' };
    const page = demoPage(node);
    assert.match(page, /VDC demo/);
    assert.match(page, /served by node 7 \(node2 of the local grid, 10\.128\.0\.4\)/);
    assert.doesNotMatch(page, /'/, 'the shell line quotes it with single quotes');
    const file = demoDeployFile({
      image: { url: 'http://10.128.0.2:8332/busybox.tar.gz', sha256: 'ab'.repeat(32) },
      gateway: 3,
      node,
    }) as { workloads: { name: string; kind: string; spec: Record<string, unknown> }[] };
    assert.deepEqual(
      file.workloads.map((w) => [w.name, w.kind]),
      [
        ['web', 'container'],
        ['web-gw', 'gateway'],
      ],
    );
    assert.deepEqual(file.workloads[1]!.spec, {
      name: 'demo',
      gateway: 3,
      workload: 'web',
      port: 8080,
    });
  });

  test('S2: as root, a grid folder another user could write is refused before anything is done', async (t) => {
    if (!requireRoot(t)) return;
    const home = folder(t);
    const grid = join(home, 'grid');
    mkdirSync(grid, { mode: 0o700 });
    // A process that is not the grid's; grid.json "records" it, as a user could write.
    const victim = spawn('sleep', ['60'], { stdio: 'ignore' });
    t.after(() => victim.kill());
    const ticks = processStartTicks(victim.pid!)!;
    const doc = JSON.stringify({
      services: {
        ledger: { pid: victim.pid, startTicks: ticks, address: 'x', log: 'x', startedAt: 'x' },
      },
    });
    writeFileSync(join(grid, 'grid.json'), doc, { mode: 0o600 });
    const unsafe = hasCode('GRID_FOLDER_UNSAFE');
    const identity = Identity.fromSeed(randomBytes(64));

    // Owned by another user: neither `down` nor `up` acts on it.
    chownSync(grid, NOBODY, NOBODY);
    await assert.rejects(gridDown(home, true), unsafe);
    await assert.rejects(gridUp(home, { identity, passphrase: 'x', root: false }), unsafe);
    assert.throws(() => checkGridFolder(grid, 0), unsafe);
    chownSync(grid, 0, 0);
    // Writable by others; a folder above it owned by another user; a file in it another
    // user's (left there before the folder was handed to root).
    chmodSync(grid, 0o770);
    await assert.rejects(gridDown(home, true), unsafe);
    chmodSync(grid, 0o700);
    chownSync(home, NOBODY, NOBODY);
    await assert.rejects(gridDown(home, true), unsafe);
    chownSync(home, 0, 0);
    chownSync(join(grid, 'grid.json'), NOBODY, NOBODY);
    await assert.rejects(gridDown(home, true), unsafe);
    chownSync(join(grid, 'grid.json'), 0, 0);

    // Nothing changed: the recorded process runs, the folder and its record are there.
    assert.equal(victim.exitCode, null, 'no recorded pid was signalled');
    assert.equal(readFileSync(join(grid, 'grid.json'), 'utf8'), doc);
    assert.deepEqual(readdirSync(grid), ['grid.json'], 'not even a lock was made');
    // Root's own folder under a sticky /tmp is accepted; another user's grid is not judged.
    checkGridFolder(grid, 0);
    chownSync(grid, NOBODY, NOBODY);
    checkGridFolder(grid, NOBODY);
  });

  test('S2: down --purge deletes only the node data folder derived from the grid folder', async (t) => {
    const home = folder(t);
    const grid = join(home, 'grid');
    mkdirSync(grid, { mode: 0o700 });
    const precious = folder(t);
    writeFileSync(join(precious, 'keep'), 'precious');
    const doc = JSON.stringify({ services: {}, nodesData: precious });
    writeFileSync(join(grid, 'grid.json'), doc, { mode: 0o600 });
    await assert.rejects(gridDown(home, true), hasCode('GRID_STATE_INVALID'));
    assert.equal(readFileSync(join(precious, 'keep'), 'utf8'), 'precious');
    assert.equal(readFileSync(join(grid, 'grid.json'), 'utf8'), doc);
    // The folder it does derive is under /var/lib/vdc-grid, named by the grid folder.
    assert.match(nodesDataDir(grid), /^\/var\/lib\/vdc-grid\/[0-9a-f]{12}$/);
    writeFileSync(join(grid, 'grid.json'), JSON.stringify({ services: {}, nodesData: '/' }));
    await assert.rejects(gridDown(home, true), hasCode('GRID_STATE_INVALID'));
    writeFileSync(
      join(grid, 'grid.json'),
      JSON.stringify({ services: { x: { pid: 1, startTicks: '1' } } }),
    );
    await assert.rejects(gridDown(home, true), hasCode('GRID_STATE_INVALID'));
    assert.ok(existsSync(grid));
  });

  test('S2: a log is never opened through a symbolic link', (t) => {
    const dir = folder(t);
    const target = join(dir, 'target');
    writeFileSync(target, 'untouched');
    symlinkSync(target, join(dir, 'service.log'));
    assert.throws(() => openLog(join(dir, 'service.log')), hasCode('GRID_FOLDER_UNSAFE'));
    assert.equal(readFileSync(target, 'utf8'), 'untouched');
    closeSync(openLog(join(dir, 'plain.log')));
    assert.ok(existsSync(join(dir, 'plain.log')));
  });

  test('C5: a grid whose /24 is taken now fails early, leaving nothing behind (and S2: nor a crafted nodes folder)', async (t) => {
    if (
      !requireRoot(t) ||
      !['ip', 'nsenter', 'crun', 'tar', 'openssl', 'busybox'].every((c) => requireCommand(t, c))
    )
      return;
    const home = folder(t);
    mkdirSync(join(home, 'grid'), { mode: 0o700 });
    const identity = Identity.fromSeed(randomBytes(64));
    // (S2) A grid.json naming another nodes' data folder is refused before anything starts.
    const crafted = JSON.stringify({ services: {}, nodesData: '/' });
    writeFileSync(join(home, 'grid', 'grid.json'), crafted, { mode: 0o600 });
    await assert.rejects(
      gridUp(home, { identity, passphrase: 'x', root: true }),
      hasCode('GRID_STATE_INVALID'),
    );
    assert.equal(readFileSync(join(home, 'grid', 'grid.json'), 'utf8'), crafted);

    const other = NetnsRun.create(); // another grid holds the /24 this one recorded
    t.after(() => other.teardown());
    const doc = JSON.stringify({ services: {}, subnet: other.subnet });
    writeFileSync(join(home, 'grid', 'grid.json'), doc, { mode: 0o600 });
    await assert.rejects(
      gridUp(home, { identity, passphrase: 'x', root: true }),
      (err: unknown) =>
        hasCode('GRID_SUBNET_MOVED')(err) && /vdc down --purge/.test((err as Error).message),
    );
    // The run it made (owned by this process until kept) is gone again; other test files'
    // runs come and go meanwhile, so only this process's own are compared.
    const mine = listRuns().filter((r) => readRecord(r)?.owner?.pid === process.pid);
    assert.deepEqual(mine, [other.id], 'the run it made is gone again');
    const state = JSON.parse(readFileSync(join(home, 'grid', 'grid.json'), 'utf8'));
    assert.equal(state.subnet, other.subnet);
    assert.equal(state.netns, undefined);
    assert.deepEqual(state.services, {});
  });
});
