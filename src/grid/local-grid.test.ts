/*
 * The parts of `vdc up` that need no root: the prerequisite check, the grid folder's lock,
 * and the demo deployment's file. The whole grid runs in test/e2e/grid-up.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { demoDeployFile, demoPage } from './demo-vdc.ts';
import { lockGrid } from './grid-lock.ts';
import { checkPrerequisites } from './local-netns-grid.ts';

function folder(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'vdc-grid-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const code = (expected: string) => (err: unknown) =>
  err instanceof VdcError && err.code === expected;

describe('vdc up without the grid', () => {
  test('names the Debian packages of every missing tool, before anything is made', (t) => {
    const empty = folder(t);
    assert.throws(
      () => checkPrerequisites(empty, join(empty, 'busybox')),
      (err: unknown) =>
        code('GRID_PREREQUISITE_MISSING')(err) &&
        /iproute2, util-linux, crun, tar, openssl, busybox-static/.test((err as Error).message) &&
        /apt-get install -y iproute2 util-linux crun tar openssl busybox-static/.test(
          (err as Error).message,
        ),
    );
    assert.deepEqual(spawnSync('ls', [empty], { encoding: 'utf8' }).stdout, '', 'nothing made');
  });

  test('one up or down at a time per grid folder; a dead holder’s lock is taken over', (t) => {
    const dir = folder(t);
    const release = lockGrid(dir);
    assert.throws(() => lockGrid(dir), code('GRID_BUSY'));
    release();
    assert.equal(existsSync(join(dir, 'grid.lock')), false);

    // A holder that is gone (pid and start time no longer match a process).
    writeFileSync(join(dir, 'grid.lock'), JSON.stringify({ pid: 999_999_999, startTicks: '1' }));
    const again = lockGrid(dir);
    assert.equal(JSON.parse(readFileSync(join(dir, 'grid.lock'), 'utf8')).pid, process.pid);
    again();
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
});
