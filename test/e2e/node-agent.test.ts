/*
 * The node agent over a real ledger and a real relay: it creates its key, registers with
 * the farmer's grant, reports, answers its message API through the relay, stores accepted
 * deployments durably, and resumes them after a restart.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { signDeployment } from '../../src/node/index.ts';
import {
  call,
  contractAndDeployment,
  createContract,
  hasCode,
  nodeState,
  startNodeGrid,
  unsignedDeployment,
  waitFor,
} from '../support/node-fixture.ts';

describe('node agent', () => {
  test('registers with the grant, keeps its key private, and reports its verified head', async (t) => {
    const grid = await startNodeGrid(t);
    assert.equal(grid.agent.registered, true);
    assert.equal((statSync(join(grid.nodeData, 'node-key')).mode & 0o777).toString(8), '600');
    const view = grid.user.client.follower;
    const node = await waitFor('a node.report on the ledger', async () => {
      await view.sync();
      const n = view.view.node(grid.agent.node);
      return n?.report && n.head ? n : undefined;
    });
    assert.equal(node.farm, grid.farm);
    assert.equal(node.twin, grid.agent.twin);
    assert.ok(node.report!.capacity.total.memory > 0);
    assert.ok(node.report!.capacity.total.cpu >= 1);
    assert.ok(node.head!.size > 0);
  });

  test('answers node.stats with capacity and health, and network.config with not-supported', async (t) => {
    const grid = await startNodeGrid(t);
    const stats = (await call(grid.user, grid.agent, 'node.stats')) as Record<string, unknown>;
    assert.equal(stats['node'], grid.agent.node);
    assert.equal(stats['fenced'], false);
    const cap = stats['capacity'] as { total: { disk: number } };
    assert.ok(cap.total.disk > 0);
    await assert.rejects(
      call(grid.user, grid.agent, 'network.config'),
      hasCode('NODE_NETWORK_NOT_SUPPORTED'),
    );
  });

  test('deploys an empty deployment, lists it, updates it, and deletes it', async (t) => {
    const grid = await startNodeGrid(t);
    const { contract, deployment } = await contractAndDeployment(grid);
    const deployed = (await call(grid.user, grid.agent, 'deployment.deploy', {
      deployment: deployment as never,
    })) as Record<string, unknown>;
    assert.equal(deployed['contract'], contract);
    assert.equal(deployed['state'], 'ok');
    assert.equal(deployed['version'], 1);

    const list = (await call(grid.user, grid.agent, 'deployment.list')) as { contract: number }[];
    assert.deepEqual(
      list.map((d) => d.contract),
      [contract],
    );
    const got = (await call(grid.user, grid.agent, 'deployment.get', { contract })) as {
      deployment: unknown;
    };
    assert.deepEqual(got.deployment, deployment);

    // Version 2: the contract is updated to its hash first, then the node takes it.
    const v2 = { ...unsignedDeployment(grid.user.id, [], 2) };
    await grid.user.client.submit(grid.user.identity, 'contract.update', {
      contract,
      deploymentHash: (await import('../../src/node/index.ts')).deploymentHash(v2),
      deployment: Buffer.alloc(8).toString('base64'),
      expiresAt: Date.now() + 86_400_000,
      networks: [],
    });
    const signed2 = signDeployment(grid.user.identity, v2, {
      ledger: grid.ledgerId,
      node: grid.agent.node,
      contract,
    });
    const updated = (await call(grid.user, grid.agent, 'deployment.update', {
      deployment: signed2 as never,
    })) as Record<string, unknown>;
    assert.equal(updated['version'], 2);
    const changes = (await call(grid.user, grid.agent, 'deployment.changes', {
      contract,
    })) as { event: string }[];
    assert.deepEqual(
      changes.map((c) => c.event),
      ['deployed', 'updated'],
    );
    const diag = (await call(grid.user, grid.agent, 'node.diagnostics')) as {
      deployments: unknown[];
    };
    assert.equal(diag.deployments.length, 1);

    await call(grid.user, grid.agent, 'deployment.delete', { contract });
    assert.deepEqual(await call(grid.user, grid.agent, 'deployment.list'), []);
    await assert.rejects(
      call(grid.user, grid.agent, 'deployment.get', { contract }),
      hasCode('DEPLOYMENT_NOT_FOUND'),
    );
  });

  test('refuses a workload kind whose runtime this node lacks, naming it, and stores nothing', async (t) => {
    const grid = await startNodeGrid(t);
    const { deployment } = await contractAndDeployment(grid, grid.user, [
      {
        name: 'web',
        kind: 'container',
        spec: {
          image: { url: 'http://127.0.0.1:1/busybox.tar', sha256: 'ab'.repeat(32) },
          resources: { cpu: 500, memory: 64 * 2 ** 20 },
        },
      },
    ]);
    const before = nodeState(grid);
    await assert.rejects(
      call(grid.user, grid.agent, 'deployment.deploy', { deployment: deployment as never }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'WORKLOAD_KIND_UNAVAILABLE');
        assert.match(err.message, /crun/);
        return true;
      },
    );
    assert.equal(nodeState(grid), before);
  });

  test('resumes after a restart: same node, deployments still listed', async (t) => {
    const grid = await startNodeGrid(t);
    const { contract, deployment } = await contractAndDeployment(grid);
    await call(grid.user, grid.agent, 'deployment.deploy', { deployment: deployment as never });
    await grid.agent.close();
    const again = await grid.startAgent();
    assert.equal(again.registered, false);
    assert.equal(again.node, grid.agent.node);
    const list = (await call(grid.user, again, 'deployment.list')) as { contract: number }[];
    assert.deepEqual(
      list.map((d) => d.contract),
      [contract],
    );
  });

  test('a second contract on the same node is a second deployment', async (t) => {
    const grid = await startNodeGrid(t);
    const a = await contractAndDeployment(grid);
    const unsigned = unsignedDeployment(grid.user.id);
    const contract = await createContract(grid.user, grid.agent.node, unsigned);
    const b = signDeployment(grid.user.identity, unsigned, {
      ledger: grid.ledgerId,
      node: grid.agent.node,
      contract,
    });
    await call(grid.user, grid.agent, 'deployment.deploy', { deployment: a.deployment as never });
    await call(grid.user, grid.agent, 'deployment.deploy', { deployment: b as never });
    const list = (await call(grid.user, grid.agent, 'deployment.list')) as { contract: number }[];
    assert.deepEqual(
      list.map((d) => d.contract),
      [a.contract, contract],
    );
  });
});
