/*
 * P4 through the node's `gateway` workloads (docs/node-gateway.md), with the real container
 * runtime (crun), a real gateway and the node agent in this process. A gateway workload
 * whose grant is for another node, for another name, or signed by someone who does not
 * hold the name, or whose name does not list the node, is refused with the gateway's own
 * code; one forwarding to a workload that does not exist or is not a container is refused
 * by the node's checks. Each time nothing on the node changes and nothing is reachable
 * under the name. A refusal met later (the agent started again after the owner took the
 * node off the name) shows in the workload's status with its code. The forwarder's socket
 * is reachable by no other uid.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ErrorCode } from '../../src/core/error-codes.ts';
import { VdcError } from '../../src/core/errors.ts';
import type { Workload } from '../../src/node/index.ts';
import {
  call,
  contractAndDeployment,
  type NodeGrid,
  nodeState,
  startNodeGrid,
  waitFor,
} from '../support/node-fixture.ts';
import {
  curlName,
  type GridGateway,
  NODE_PAGE,
  NODE_RULES,
  pidsWith,
  startNodeGatewayGrid,
} from '../support/node-gateway-grid.ts';
import { deploymentRefused, entries, nodeFootprint } from '../support/node-refusal.ts';
import { requireCommand, requireRoot } from '../support/requirements.ts';

type T = import('node:test').TestContext;
const PAGE = NODE_PAGE;
const RULES = NODE_RULES;
const gatewayGrid = startNodeGatewayGrid;

/** Everything the node holds: deployments, crun's containers, gateway folders, forwarders. */
function everything(grid: NodeGrid): string {
  return nodeFootprint(grid, {
    gateways: entries(join(grid.nodeData, 'gateways')),
    forwarders: pidsWith(join(grid.nodeData, 'gateways')).length,
  });
}

async function refusedWith(
  grid: NodeGrid,
  gw: GridGateway,
  name: string,
  workloads: Workload[],
  code: ErrorCode,
) {
  await deploymentRefused(grid, workloads, code, () => everything(grid));
  const answer = await curlName(gw, name, '/index.html');
  assert.notEqual(answer.status, 200, `${name} answered through the gateway`);
  assert.doesNotMatch(answer.body, new RegExp(PAGE));
}

const ready = (t: T) =>
  requireRoot(t) &&
  requireCommand(t, 'crun') &&
  requireCommand(t, 'busybox') &&
  requireCommand(t, 'curl') &&
  requireCommand(t, 'nsenter');

describe('P4: gateway workloads through the node', () => {
  test('refuses grants for another node, another name or by another signer, and unlisted nodes', async (t) => {
    if (!ready(t)) return;
    const { grid, gw, node, register, web, grantFor, gatewayWorkload } = await gatewayGrid(t);
    await register('site', [node]);
    await register('elsewhere', [node]);
    await register('unlisted', []);
    const attacker = await grid.newTwin();

    await refusedWith(
      grid,
      gw,
      'site',
      [web, gatewayWorkload('site', grantFor({ name: 'site', node: node + 1000 }))],
      'TUNNEL_GRANT_INVALID',
    );
    await refusedWith(
      grid,
      gw,
      'site',
      [web, gatewayWorkload('site', grantFor({ name: 'elsewhere' }))],
      'TUNNEL_GRANT_INVALID',
    );
    await refusedWith(
      grid,
      gw,
      'site',
      [web, gatewayWorkload('site', grantFor({ name: 'site' }, attacker.identity))],
      'TUNNEL_GRANT_INVALID',
    );
    await refusedWith(
      grid,
      gw,
      'unlisted',
      [web, gatewayWorkload('unlisted', grantFor({ name: 'unlisted' }))],
      'TUNNEL_NODE_NOT_LISTED',
    );
    // a name nobody registered
    await refusedWith(
      grid,
      gw,
      'nobody',
      [web, gatewayWorkload('nobody', grantFor({ name: 'nobody' }))],
      'TUNNEL_NAME_UNKNOWN',
    );
  });

  test('refuses a gateway workload naming a missing workload or one that is not a container', async (t) => {
    if (!ready(t)) return;
    const { grid, gw, node, register, web, grantFor, gatewayWorkload } = await gatewayGrid(t);
    await register('site', [node]);
    const grant = grantFor({ name: 'site' });
    await refusedWith(
      grid,
      gw,
      'site',
      [web, gatewayWorkload('site', grant, 'nope')],
      'DEPLOYMENT_GATEWAY_TARGET_INVALID',
    );
    const store: Workload = {
      name: 'store',
      kind: 'zdb',
      spec: { size: 2 ** 20, mode: 'user', network: 'lan' },
    };
    await refusedWith(
      grid,
      gw,
      'site',
      [web, store, gatewayWorkload('site', grant, 'store')],
      'DEPLOYMENT_GATEWAY_TARGET_INVALID',
    );
  });

  test('the check holds on a node without the runtimes too: nothing changes', async (t) => {
    const grid = await startNodeGrid(t);
    const web: Workload = {
      name: 'web',
      kind: 'container',
      spec: {
        image: { url: 'http://127.0.0.1:9/i.tar', sha256: 'cd'.repeat(32) },
        resources: { cpu: 100, memory: 32 * 2 ** 20 },
      },
    };
    const gateway = (workload: string): Workload => ({
      name: 'web-gw',
      kind: 'gateway',
      spec: { name: 'site', gateway: 1, workload, port: 8080, grant: 'ab'.repeat(64) },
    });
    for (const workloads of [
      [web, gateway('nope')],
      [web, gateway('web-gw')],
    ]) {
      const { deployment } = await contractAndDeployment(grid, grid.user, workloads);
      const before = nodeState(grid);
      await assert.rejects(
        call(grid.user, grid.agent, 'deployment.deploy', { deployment } as never),
        (err: unknown) => {
          assert.ok(err instanceof VdcError, String(err));
          assert.equal(err.code, 'DEPLOYMENT_GATEWAY_TARGET_INVALID', err.message);
          return true;
        },
      );
      assert.equal(nodeState(grid), before);
    }
  });

  test('a later refusal shows in the status with its code; the socket is no other uid’s', async (t) => {
    if (!ready(t)) return;
    const { grid, gw, node, register, web, grantFor, gatewayWorkload, start } =
      await gatewayGrid(t);
    await register('site', [node]);
    const { contract, deployment } = await contractAndDeployment(grid, grid.user, [
      web,
      gatewayWorkload('site', grantFor({ name: 'site' })),
    ]);
    await call(grid.user, grid.agent, 'deployment.deploy', { deployment } as never);
    const page = await waitFor(
      'the page through the gateway',
      async () => {
        const r = await curlName(gw, 'site', '/index.html');
        return r.status === 200 ? r : undefined;
      },
      30_000,
    );
    assert.equal(page.body.trim(), PAGE);

    // The socket: root (the agent) connects; another uid cannot even reach its folder.
    const socket = join(grid.nodeData, 'gateways', `g${contract}-web-gw`, 'socket');
    const probe = (uid: number) =>
      new Promise<string>((resolve) => {
        // Started as root and dropped inside: the node binary may sit where `uid` cannot reach it.
        const script = `process.setgroups([]); process.setgid(${uid}); process.setuid(${uid}); require('node:net').connect(${JSON.stringify(socket)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
        execFile(process.execPath, ['-e', script], { encoding: 'utf8' }, (_e, out) =>
          resolve(String(out).trim()),
        );
      });
    assert.equal(await probe(0), 'connected', 'the probe is live');
    assert.equal(await probe(4242), 'EACCES');
    assert.equal(await probe(65534), 'EACCES');

    // The owner takes the node off the name; the agent starts again: the gateway refuses
    // the new tunnel, and the owner sees why.
    await grid.user.client.submit(grid.user.identity, 'name.update', {
      name: 'site',
      gateway: gw.id,
      mode: 'http',
      rules: RULES,
      nodes: [],
    });
    await waitFor('the node to follow the name update', () =>
      grid.agent.follower
        .sync()
        .then(() => grid.agent.follower.view.name('site')?.nodes.length === 0),
    );
    await grid.agent.close();
    await start();
    const view = (await call(grid.user, grid.agent, 'deployment.get', { contract })) as {
      workloads: { name: string; state: string; message: string }[];
    };
    const gwState = view.workloads.find((w) => w.name === 'web-gw')!;
    assert.equal(gwState.state, 'failed');
    assert.match(gwState.message, /TUNNEL_NODE_NOT_LISTED/);
    assert.equal(view.workloads.find((w) => w.name === 'web')?.state, 'ok');
    const answer = await curlName(gw, 'site', '/index.html');
    assert.notEqual(answer.status, 200);
    assert.equal(existsSync(socket), false, 'no socket is left');
    assert.deepEqual(pidsWith(join(grid.nodeData, 'gateways')), [], 'no forwarder is left');
  });
});
