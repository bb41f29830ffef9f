/*
 * Fences with a real ledger: a deployment whose contract is cancelled or unknown in the
 * node's own view is removed at the next reconcile; a node cut off from the ledger past
 * --fence-after fences every deployment and refuses changes until it has caught up.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { writeFileAtomic } from '../../src/core/atomic-file.ts';
import { deploymentHash, signDeployment } from '../../src/node/index.ts';
import {
  call,
  contractAndDeployment,
  hasCode,
  startNodeGrid,
  unsignedDeployment,
  waitFor,
} from '../support/node-fixture.ts';

describe('node fences', () => {
  test('removes a deployment once its contract is cancelled', async (t) => {
    const grid = await startNodeGrid(t, { reportIntervalMs: 300 });
    const { contract, deployment } = await contractAndDeployment(grid);
    await call(grid.user, grid.agent, 'deployment.deploy', { deployment: deployment as never });
    const file = join(grid.nodeData, 'deployments', `${contract}.json`);
    assert.ok(existsSync(file));
    await grid.user.client.submit(grid.user.identity, 'contract.cancel', {
      contract,
      reason: 'user',
    });
    await waitFor('the cancelled deployment removed', () => grid.agent.engine.all().length === 0);
    assert.equal(existsSync(file), false);
    assert.deepEqual(await call(grid.user, grid.agent, 'deployment.list'), []);
  });

  test('removes a stored deployment whose contract the ledger does not hold', async (t) => {
    const grid = await startNodeGrid(t, { reportIntervalMs: 300 });
    await grid.agent.close();
    // A record for contract 999, which no ledger entry backs (e.g. a restore of old state).
    const doc = signDeployment(grid.user.identity, unsignedDeployment(grid.user.id), {
      ledger: grid.ledgerId,
      node: grid.agent.node,
      contract: 999,
    });
    const file = join(grid.nodeData, 'deployments', '999.json');
    writeFileAtomic(
      file,
      JSON.stringify({
        contract: 999,
        twin: grid.user.id,
        version: 1,
        hash: deploymentHash(doc),
        deployment: doc,
        workloads: [],
        createdAt: 1,
        updatedAt: 1,
        changes: [],
      }),
    );
    const again = await grid.startAgent();
    await waitFor('the unbacked deployment removed', () => again.engine.all().length === 0);
    assert.equal(existsSync(file), false);
  });

  test('fences every deployment while cut off from the ledger past --fence-after, then recovers', async (t) => {
    const grid = await startNodeGrid(t, {
      proxyLedger: true,
      reportIntervalMs: 300,
      fenceAfterMs: 2500,
    });
    const { contract, deployment } = await contractAndDeployment(grid);
    await call(grid.user, grid.agent, 'deployment.deploy', { deployment: deployment as never });
    const state = async () =>
      ((await call(grid.user, grid.agent, 'deployment.get', { contract })) as { state: string })
        .state;
    assert.equal(await state(), 'ok');

    grid.proxy!.cut(true);
    await waitFor('the node fenced', async () => (await state()) === 'fenced');
    const stats = (await call(grid.user, grid.agent, 'node.stats')) as { fenced: boolean };
    assert.equal(stats.fenced, true);
    // Nothing new is taken while fenced.
    const next = await contractAndDeployment(grid, grid.user, [], { waitForNode: false });
    await assert.rejects(
      call(grid.user, grid.agent, 'deployment.deploy', { deployment: next.deployment as never }),
      hasCode('NODE_FENCED'),
    );

    grid.proxy!.cut(false);
    await waitFor('the node unfenced', async () => (await state()) === 'ok');
    const events = (
      (await call(grid.user, grid.agent, 'deployment.changes', { contract })) as { event: string }[]
    ).map((c) => c.event);
    // A loaded machine may fence a moment on its own as well; the cut must show in order.
    assert.equal(events[0], 'deployed');
    assert.ok(events.includes('fenced'), String(events));
    assert.equal(events.at(-1), 'unfenced');
    await call(grid.user, grid.agent, 'deployment.deploy', {
      deployment: next.deployment as never,
    });
  });
});
