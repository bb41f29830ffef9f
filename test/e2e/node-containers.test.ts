/*
 * Containers end to end on the namespace grid (issue 5's "done when"): a busybox image built
 * from Debian's busybox-static, served by busybox httpd from another namespace, deployed with
 * `vdc deploy`; it runs with its secret; a container past its memory limit is OOM-killed and
 * reported; both are listed; the running one survives a kill -9 of the agent; the node stops
 * it when cut off from the ledger past --fence-after and starts it again after; cancelling
 * its contract removes it. Containers live in their own network namespaces, so the node's
 * namespace still listens on nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { listeningTcp, startNetnsGrid } from '../../src/grid/index.ts';
import {
  crunState,
  deployDirect,
  diagnostics,
  serveBusyboxImage,
  waitUntil,
} from '../support/container-grid.ts';
import { requireCommand, requireRoot } from '../support/requirements.ts';
import { runVdc } from '../support/run-vdc.ts';

const FENCE_AFTER_S = 6;

describe('container workloads on the namespace grid', () => {
  test('deploy, run, OOM, list, survive a restart, fence, remove on cancel', async (t) => {
    if (!requireRoot(t) || !requireCommand(t, 'crun') || !requireCommand(t, 'busybox')) return;
    const grid = await startNetnsGrid({
      nodes: 1,
      test: t,
      ledgerHeartbeatMs: 1000,
      nodeArgs: ['--report-interval', '1', '--fence-after', String(FENCE_AFTER_S)],
    });
    const node = grid.nodes[0]!;

    // The image, served over HTTP from a namespace of its own.
    const { url, sha256 } = await serveBusyboxImage(grid);

    // `vdc deploy` with a plaintext secret the CLI seals to the node.
    const file = join(grid.dir, 'hello.json');
    const script = 'echo "hello from $WHO, token=$TOKEN"; while true; do sleep 1; done';
    writeFileSync(
      file,
      JSON.stringify({
        workloads: [
          {
            name: 'hello',
            kind: 'container',
            spec: {
              image: { url, sha256 },
              resources: { cpu: 250, memory: 64 * 2 ** 20 },
              entrypoint: ['/bin/sh', '-c', script],
              env: { WHO: 'vdc' },
              secrets: { TOKEN: 'plain-secret' },
            },
          },
        ],
      }),
    );
    const deployed = await runVdc(['deploy', '--node', String(node.id), '--json', file], {
      env: grid.user.env,
    });
    assert.equal(deployed.code, 0, deployed.stderr + deployed.stdout);
    const hello = (JSON.parse(deployed.stdout) as { contract: number }).contract;
    const helloId = `c${hello}-hello`;
    assert.equal(crunState(node, helloId)?.status, 'running');
    const view = await waitUntil('the greeting in the logs', async () => {
      const v = await diagnostics(node, grid.user, hello);
      return v.workloads[0]?.logs?.includes('hello from vdc') ? v : undefined;
    });
    assert.match(view.workloads[0]!.logs!, /token=plain-secret/);
    assert.equal(view.workloads[0]!.state, 'ok');

    // A container allocating past its limit is OOM-killed, and the owner sees it.
    const hog = await deployDirect(node, grid.user, [
      {
        name: 'hog',
        kind: 'container',
        spec: {
          image: { url, sha256 },
          resources: { cpu: 250, memory: 16 * 2 ** 20 },
          entrypoint: [
            '/bin/sh',
            '-c',
            'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived',
          ],
        },
      },
    ]);
    const killed = await waitUntil('the hog reported OOM-killed', async () => {
      const w = (await diagnostics(node, grid.user, hog)).workloads[0]!;
      return w.state === 'oom-killed' ? w : undefined;
    });
    assert.match(killed.message, /OOM killer/);
    assert.doesNotMatch(killed.logs ?? '', /survived/);

    // Both are listed, by the CLI.
    await grid.user.closeRelay();
    const listed = await runVdc(['deployment', 'list', '--node', String(node.id), '--json'], {
      env: grid.user.env,
    });
    assert.equal(listed.code, 0, listed.stderr);
    const contracts = JSON.parse(listed.stdout) as
      | { contract: number }[]
      | { deployments: { contract: number }[] };
    const list = Array.isArray(contracts) ? contracts : contracts.deployments;
    assert.deepEqual(
      list.map((d) => d.contract).sort((a, b) => a - b),
      [hello, hog].sort((a, b) => a - b),
    );

    // kill -9 of the agent: the container runs on, and the restarted agent adopts it.
    const pid = crunState(node, helloId)!.pid;
    node.kill();
    await waitUntil('the agent gone', () => !node.running);
    assert.equal(crunState(node, helloId)?.pid, pid);
    await node.start();
    assert.equal(crunState(node, helloId)?.pid, pid, 'the same container, not a new one');
    await waitUntil(
      'hello ok after the restart',
      async () => (await diagnostics(node, grid.user, hello)).workloads[0]?.state === 'ok',
    );

    // Cut off from the ledger (and relay) past --fence-after: the node stops the container.
    const route = (op: 'add' | 'del') =>
      spawnSync('ip', ['-n', node.namespace, 'route', op, 'blackhole', `${grid.core.address}/32`])
        .status === 0;
    assert.ok(route('add'));
    let restored = false;
    t.after(() => restored || route('del'));
    await waitUntil(
      'the container stopped by the fence',
      () => crunState(node, helloId) === undefined,
      (FENCE_AFTER_S + 30) * 1000,
    );
    assert.ok(
      existsSync(join(node.dataDir, 'containers', helloId, 'rootfs')),
      'its files are kept',
    );
    assert.ok(route('del'));
    restored = true;
    await waitUntil(
      'the container started again',
      () => crunState(node, helloId)?.status === 'running',
      60_000,
    );
    await waitUntil(
      'the deployment unfenced',
      async () =>
        (await diagnostics(node, grid.user, hello).catch(() => undefined))?.state === 'ok',
    );

    // Containers have their own network namespaces: the node's still listens on nothing.
    assert.deepEqual(listeningTcp(node.namespace), []);

    // Cancelling the contract on the ledger removes the container within a report interval.
    await grid.user.client.submit(grid.user.identity, 'contract.cancel', {
      contract: hello,
      reason: 'user',
    });
    await waitUntil(
      'the container removed',
      () =>
        crunState(node, helloId) === undefined &&
        !existsSync(join(node.dataDir, 'containers', helloId)),
    );
  });
});
