/*
 * The namespace grid (src/grid, docs/grid.md): a ledger and a relay in a core namespace and
 * node agents each in a namespace of its own, on a bridge of the run's own /24. A user twin
 * in the host namespace reaches every node through the relay; teardown leaves nothing of
 * the run in the kernel.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  listeningTcp,
  listLinks,
  listNamespaces,
  namespacePids,
  startNetnsGrid,
} from '../../src/grid/index.ts';
import { requireCommand, requireRoot } from '../support/requirements.ts';
import { runVdc } from '../support/run-vdc.ts';

function leftovers(prefix: string): string[] {
  return [
    ...listNamespaces().filter((n) => n.startsWith(prefix)),
    ...listLinks().filter((l) => l.startsWith(prefix)),
  ];
}

/** Runs a one-line Node script inside `namespace`; returns what it printed. */
function nodeIn(namespace: string, script: string): string {
  const r = spawnSync('ip', ['netns', 'exec', namespace, process.execPath, '-e', script], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  return r.stdout.trim();
}

describe('namespace grid', () => {
  test('two nodes come up in their own namespaces, registered and answering through the relay; teardown leaves nothing', async (t) => {
    if (!requireRoot(t) || !requireCommand(t, 'ip')) return;
    const grid = await startNetnsGrid({ nodes: 2, test: t });
    const prefix = grid.run.prefix;
    assert.equal(grid.nodes.length, 2);
    const [a, b] = grid.nodes as [(typeof grid.nodes)[0], (typeof grid.nodes)[0]];
    assert.notEqual(a.namespace, b.namespace);
    assert.notEqual(a.address, b.address);
    assert.notEqual(a.id, b.id);
    assert.ok(grid.ledgerUrl.startsWith(`http://${grid.core.address}:`));

    await grid.farmer.client.follower.sync();
    for (const node of grid.nodes) {
      const onLedger = grid.farmer.client.follower.view.node(node.id);
      assert.equal(onLedger?.farm, grid.farm);
      assert.equal(onLedger?.twin, node.twin);
      const stats = (await grid.user.relay.request(
        node.twin,
        { method: 'node.stats' },
        { timeoutMs: 10_000 },
      )) as { node: number; farm: number };
      assert.equal(stats.node, node.id);
      assert.equal(stats.farm, grid.farm);
      // The agent runs inside its own namespace and listens on nothing there.
      assert.ok(namespacePids(node.namespace).includes(node.pid!));
      assert.deepEqual(listeningTcp(node.namespace), []);
    }
    // The ledger and relay listen only on the core's bridge address.
    assert.deepEqual(
      listeningTcp(grid.core.namespace)
        .map((s) => `${s.address}:${s.port}`)
        .sort(),
      [`${grid.core.address}:8330`, `${grid.core.address}:8331`],
    );
    // The CLI works as the user with the home the grid made.
    const shown = await runVdc(['twin', 'show', String(grid.user.id), '--json'], {
      env: grid.user.env,
    });
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal((JSON.parse(shown.stdout) as { id: number }).id, grid.user.id);

    // More twins on demand, each with its own home; anyone may ask for node.stats.
    const stranger = await grid.newTwin('stranger');
    assert.notEqual(stranger.id, grid.user.id);
    assert.equal(((await a.request(stranger, 'node.stats')) as { node: number }).node, a.id);
    await assert.rejects(grid.newTwin('user'), /GRID_NAME_INVALID|twin label/);

    const pids = grid.nodes.map((n) => n.pid!);
    await grid.teardown();
    assert.deepEqual(leftovers(prefix), []);
    for (const pid of pids)
      assert.throws(() => process.kill(pid, 0), /ESRCH/, `node process ${pid} is gone`);
  });

  test('a node that cannot start fails the grid with the tail of its log, and leaves nothing', async (t) => {
    if (!requireRoot(t) || !requireCommand(t, 'ip')) return;
    let prefix = '';
    await assert.rejects(
      startNetnsGrid({ nodes: [{ args: ['--fence-after', '0'] }] }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'GRID_START_FAILED');
        assert.match(err.message, /node1 \(vdcg[0-9a-f]{6}-node1\) exited with 2/);
        assert.match(err.message, /'--fence-after' must be a number of seconds/);
        prefix = /(vdcg[0-9a-f]{6})-node1/.exec(err.message)![1]!;
        return true;
      },
    );
    assert.deepEqual(leftovers(prefix), []);
  });

  test('after a failed test the grid prints every log tail, keeps its folder, and still tears down', async (t) => {
    if (!requireRoot(t) || !requireCommand(t, 'ip')) return;
    const hooks: (() => unknown)[] = [];
    const failedTest = { after: (fn: () => unknown) => void hooks.push(fn), passed: false };
    const grid = await startNetnsGrid({ nodes: 0, test: failedTest });
    t.after(() => rmSync(grid.dir, { recursive: true, force: true }));
    assert.equal(hooks.length, 1);
    let printed = '';
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => {
      printed += chunk;
      return true;
    }) as typeof process.stderr.write;
    try {
      await hooks[0]!();
    } finally {
      process.stderr.write = write;
    }
    assert.match(printed, new RegExp(`grid ${grid.run.id} logs \\(kept in ${grid.dir}\\)`));
    assert.match(printed, /--- ledger .*\n[\s\S]*listening on http:\/\//);
    assert.match(printed, /--- relay .*\n[\s\S]*relay listening at ws:\/\//);
    assert.ok(existsSync(join(grid.dir, 'core', 'ledger.log')));
    assert.deepEqual(leftovers(grid.run.prefix), []);
  });

  test('a node restarts on its data as the same node; flags pass through; hosts reach only the bridge', async (t) => {
    if (!requireRoot(t) || !requireCommand(t, 'ip')) return;
    const grid = await startNetnsGrid({
      nodes: [{}, { args: ['--fence-after', '7'] }],
      nodeArgs: ['--report-interval', '2'],
      test: t,
    });
    const [one, two] = grid.nodes as [(typeof grid.nodes)[0], (typeof grid.nodes)[0]];
    const cmdline = readFileSync(`/proc/${two.pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
    assert.deepEqual(cmdline.slice(-4), ['--report-interval', '2', '--fence-after', '7']);
    assert.ok(!readFileSync(`/proc/${one.pid}/cmdline`, 'utf8').includes('--fence-after'));

    const id = one.id;
    const firstPid = one.pid;
    await one.stop();
    assert.equal(one.running, false);
    await one.start();
    assert.notEqual(one.pid, firstPid);
    assert.equal(one.id, id);
    assert.ok(!readFileSync(`/proc/${one.pid}/cmdline`, 'utf8').includes('--grant'));
    const stats = (await one.request(grid.user, 'node.stats')) as { node: number };
    assert.equal(stats.node, id);
    await one.kill();
    assert.equal(one.running, false);

    // An extra host serves HTTP on its bridge address; a node namespace reaches it, and
    // reaches nothing off the bridge (it has no route: no packet leaves).
    const web = grid.addNamespace('images');
    const server = grid.spawn(web, 'images', process.execPath, [
      '-e',
      `require('node:http').createServer((q, r) => r.end('image bytes')).listen(8080, '${web.address}')`,
    ]);
    let body = '';
    for (let i = 0; i < 100 && body !== 'image bytes'; i++) {
      body = nodeIn(
        two.namespace,
        `fetch('http://${web.address}:8080/').then((r) => r.text()).then(console.log, () => console.log('no'))`,
      );
      if (body !== 'image bytes') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(body, 'image bytes');
    assert.ok(server.running);
    const outside = nodeIn(
      two.namespace,
      `require('node:net').connect({ host: '192.0.2.1', port: 80 }).on('error', (e) => console.log(e.code))`,
    );
    assert.equal(outside, 'ENETUNREACH');
  });
});
