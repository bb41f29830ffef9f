/*
 * The seam the container, zdb, network and gateway runtimes will plug into, exercised with a
 * fake runtime (the real ones do not exist yet): workloads apply in document order, a
 * failure part-way undoes what that deployment applied and returns the runtime's own error,
 * and a failed update leaves the previous version in place.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VdcError } from '../../src/core/errors.ts';
import {
  deploymentHash,
  signDeployment,
  type Workload,
  type WorkloadRuntime,
} from '../../src/node/index.ts';
import {
  call,
  contractAndDeployment,
  hasCode,
  nodeState,
  startNodeGrid,
  unsignedDeployment,
  waitFor,
} from '../support/node-fixture.ts';

/** Records what it was asked to do; fails on workloads named `broken`. */
function fakeRuntime() {
  const running = new Set<string>();
  const calls: string[] = [];
  const specs = new Map<string, unknown>();
  const runtime: WorkloadRuntime = {
    async apply(contract, w) {
      calls.push(`apply ${contract}/${w.name}`);
      if (w.name === 'broken')
        throw new VdcError(
          'DEPLOYMENT_WORKLOAD_INVALID',
          `workload broken: the image digest does not match`,
        );
      running.add(`${contract}/${w.name}`);
      specs.set(`${contract}/${w.name}`, w.spec);
    },
    async remove(contract, name) {
      calls.push(`remove ${contract}/${name}`);
      running.delete(`${contract}/${name}`);
    },
  };
  return { runtime, running, calls, specs };
}

const zdb = (name: string): Workload => ({
  name,
  kind: 'zdb',
  spec: { size: 2 ** 20, mode: 'user', network: 'backend' },
});

describe('node runtime seam (fake runtime)', () => {
  test('a failing workload rolls the deployment back and its error reaches the caller', async (t) => {
    const fake = fakeRuntime();
    const grid = await startNodeGrid(t, { runtimes: { zdb: fake.runtime } });
    const bad = await contractAndDeployment(grid, grid.user, [zdb('first'), zdb('broken')]);
    const before = nodeState(grid);
    await assert.rejects(
      call(grid.user, grid.agent, 'deployment.deploy', { deployment: bad.deployment as never }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'DEPLOYMENT_WORKLOAD_INVALID');
        assert.match(err.message, /image digest does not match/);
        return true;
      },
    );
    assert.deepEqual(fake.calls, [
      `apply ${bad.contract}/first`,
      `apply ${bad.contract}/broken`,
      `remove ${bad.contract}/first`,
    ]);
    assert.equal(fake.running.size, 0);
    assert.equal(nodeState(grid), before);
  });

  test('a failed update keeps the previous version running; delete removes its workloads', async (t) => {
    const fake = fakeRuntime();
    const grid = await startNodeGrid(t, { runtimes: { zdb: fake.runtime } });
    const { contract, unsigned, deployment } = await contractAndDeployment(grid, grid.user, [
      zdb('db'),
    ]);
    await call(grid.user, grid.agent, 'deployment.deploy', { deployment: deployment as never });
    assert.deepEqual([...fake.running], [`${contract}/db`]);

    const bigger: Workload = {
      ...zdb('db'),
      spec: { size: 2 ** 21, mode: 'user', network: 'backend' },
    };
    const v2 = {
      ...unsignedDeployment(grid.user.id, [bigger, zdb('broken')], 2),
      salt: unsigned.salt,
    };
    await grid.user.client.submit(grid.user.identity, 'contract.update', {
      contract,
      deploymentHash: deploymentHash(v2),
      deployment: Buffer.alloc(8).toString('base64'),
      expiresAt: Date.now() + 86_400_000,
      networks: [],
    });
    await waitFor('the node to follow the update', () =>
      grid.agent.follower.view.contract(contract)?.deploymentHash === deploymentHash(v2)
        ? true
        : undefined,
    );
    const before = nodeState(grid);
    await assert.rejects(
      call(grid.user, grid.agent, 'deployment.update', {
        deployment: signDeployment(grid.user.identity, v2, {
          ledger: grid.ledgerId,
          node: grid.agent.node,
          contract,
        }) as never,
      }),
      hasCode('DEPLOYMENT_WORKLOAD_INVALID'),
    );
    // `db` belongs to version 1 too: the rollback applies it again as version 1 had it.
    assert.deepEqual([...fake.running], [`${contract}/db`]);
    assert.deepEqual(fake.calls.slice(-3), [
      `apply ${contract}/db`,
      `apply ${contract}/broken`,
      `apply ${contract}/db`,
    ]);
    assert.deepEqual(fake.specs.get(`${contract}/db`), zdb('db').spec);
    assert.equal(nodeState(grid), before);

    await call(grid.user, grid.agent, 'deployment.delete', { contract });
    assert.equal(fake.running.size, 0);
  });
});
