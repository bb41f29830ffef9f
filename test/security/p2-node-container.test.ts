/*
 * P2 through the node, with the real container runtime (crun): hostile images, a container
 * asking for more memory than the node has, and a deployment whose second container fails
 * are each refused with their own code, and nothing on the node changes: not its stored
 * deployments, not its containers (crun's list), not its bundles, not its image cache.
 * P1 for logs: only a deployment's owner reads its workloads' output.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ErrorCode } from '../../src/core/error-codes.ts';
import type { VdcError } from '../../src/core/errors.ts';
import { nodeRuntimes, type Workload } from '../../src/node/index.ts';
import { buildTar, sha256Hex } from '../../src/node/tar-test-kit.ts';
import { buildBusyboxImage } from '../support/busybox-image.ts';
import { destroyContainers } from '../support/container-grid.ts';
import { tempDir } from '../support/ledger-fixture.ts';
import {
  call,
  contractAndDeployment,
  type NodeGrid,
  quiet,
  startNodeGrid,
  waitFor,
} from '../support/node-fixture.ts';
import { deploymentRefused, entries, nodeFootprint } from '../support/node-refusal.ts';
import { requireCommand, requireRoot } from '../support/requirements.ts';

type T = import('node:test').TestContext;

async function containerGrid(t: T) {
  const dir = tempDir(t, 'vdc-p2-images-');
  const image = buildBusyboxImage(dir);
  const served = new Map<string, Buffer>([['/busybox', readFileSync(image.path)]]);
  const server = createServer((req, res) => {
    const body = served.get(req.url ?? '');
    if (body) res.end(body);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Registered first, so it runs before the node's folder is deleted (hooks run in order).
  let crunRoot = '';
  t.after(() => crunRoot && destroyContainers(crunRoot));
  const grid = await startNodeGrid(t);
  crunRoot = join(grid.nodeData, 'crun');
  // The same node again, now with the container runtime of `vdc node serve`.
  await grid.agent.close();
  const runtimes = nodeRuntimes({
    data: grid.nodeData,
    identity: grid.nodeIdentity,
    logger: quiet,
  });
  assert.ok(runtimes.container, 'the container runtime is offered on this host');
  await grid.startAgent({ runtimes });
  const container = (name: string, url: string, sha256: string, memory = 16 * 2 ** 20) =>
    ({
      name,
      kind: 'container',
      spec: {
        image: { url, sha256 },
        resources: { cpu: 100, memory },
        entrypoint: ['/bin/sh', '-c', 'while true; do sleep 1; done'],
      },
    }) as Workload;
  const good = (name: string) => container(name, `${base}/busybox`, image.sha256);
  return { grid, base, served, container, good };
}

/** Everything the node holds: stored deployments, crun's containers, bundles, cached images. */
const everything = (grid: NodeGrid) =>
  nodeFootprint(grid, { images: entries(join(grid.nodeData, 'images')) });

const refusedWith = (grid: NodeGrid, workloads: Workload[], code: ErrorCode) =>
  deploymentRefused(grid, workloads, code, () => everything(grid));

const ready = (t: T) => requireRoot(t) && requireCommand(t, 'crun') && requireCommand(t, 'busybox');

describe('P2: container deployments through the node', () => {
  test('refuses hostile images, too much memory and a failing second container; nothing changes', async (t) => {
    if (!ready(t)) return;
    const { grid, base, served, container, good } = await containerGrid(t);
    // one good deployment first, so "nothing changes" covers a running container too
    const first = await contractAndDeployment(grid, grid.user, [good('web')]);
    await call(grid.user, grid.agent, 'deployment.deploy', {
      deployment: first.deployment,
    } as never);

    // an image whose bytes are not the digest the owner signed
    await refusedWith(
      grid,
      [container('evil', `${base}/busybox`, sha256Hex(Buffer.from('another image')))],
      'IMAGE_DIGEST_MISMATCH',
    );
    // a tarball climbing out of its root, and one with an escaping symlink
    const climb = buildTar([{ path: '../../../../etc/cron.d/x', data: 'x' }], { gzip: true });
    served.set('/climb', climb);
    await refusedWith(
      grid,
      [container('climb', `${base}/climb`, sha256Hex(climb))],
      'IMAGE_PATH_TRAVERSAL',
    );
    const link = buildTar([{ path: 'etc', type: '2', linkName: '../../../../etc' }], {
      gzip: true,
    });
    served.set('/link', link);
    await refusedWith(
      grid,
      [container('link', `${base}/link`, sha256Hex(link))],
      'IMAGE_SYMLINK_ESCAPES',
    );
    // more memory than the machine has
    await refusedWith(
      grid,
      [container('huge', `${base}/busybox`, sha256Hex(served.get('/busybox')!), 2 ** 45)],
      'WORKLOAD_CAPACITY_EXCEEDED',
    );
    // the first container starts, the second's image is bad: the first is undone
    await refusedWith(
      grid,
      [good('one'), container('two', `${base}/nothing-here`, sha256Hex(climb))],
      'IMAGE_FETCH_FAILED',
    );
    const view = grid.agent.engine.all();
    assert.deepEqual(
      view.map((d) => d.contract),
      [first.contract],
    );
  });

  test('only the owner reads its workloads and their logs (P1)', async (t) => {
    if (!ready(t)) return;
    const { grid, good } = await containerGrid(t);
    const { contract, deployment } = await contractAndDeployment(grid, grid.user, [good('web')]);
    await call(grid.user, grid.agent, 'deployment.deploy', { deployment } as never);
    const mine = (await waitFor('the owner sees its workload', async () => {
      const d = (await call(grid.user, grid.agent, 'node.diagnostics', {
        contract,
      })) as { deployments: { workloads: { name: string; logs: string }[] }[] };
      return d.deployments[0]?.workloads[0]?.name === 'web' ? d : undefined;
    })) as { deployments: unknown[] };
    assert.equal(mine.deployments.length, 1);
    const stranger = await grid.newTwin();
    const theirs = (await call(stranger, grid.agent, 'node.diagnostics')) as {
      deployments: unknown[];
    };
    assert.deepEqual(theirs.deployments, [], "another twin sees none of the owner's workloads");
    await assert.rejects(
      call(stranger, grid.agent, 'node.diagnostics', { contract }),
      (err: unknown) => (err as VdcError).code === 'DEPLOYMENT_NOT_FOUND',
    );
    await assert.rejects(
      call(grid.farmer, grid.agent, 'node.diagnostics', { contract }),
      (err: unknown) => (err as VdcError).code === 'NODE_API_FARMER_REFUSED',
    );
    await assert.rejects(
      call(grid.user, grid.agent, 'node.diagnostics', { contract, tail: 10 ** 9 }),
      (err: unknown) => (err as VdcError).code === 'NODE_API_REQUEST_INVALID',
    );
  });
});
