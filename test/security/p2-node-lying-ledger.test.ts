/*
 * P2 against a ledger server that lies: the node decides on its own verified view, so a
 * server answering an older signed head (a rollback, to hide a cancellation or revive a
 * contract) is caught by the node's follower; the node then fences every deployment for
 * good and takes no deployment, rather than act on a view it cannot trust.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JsonValue } from '../../src/core/canonical-json.ts';
import {
  call,
  contractAndDeployment,
  hasCode,
  nodeState,
  startNodeGrid,
  waitFor,
} from '../support/node-fixture.ts';

describe('P2: a lying ledger server', () => {
  test('a rolled-back head is refused; the node fences when its verified view grows stale, and recovers with the truth', async (t) => {
    const grid = await startNodeGrid(t, {
      proxyLedger: true,
      reportIntervalMs: 300,
      fenceAfterMs: 2000,
    });
    const { contract, deployment } = await contractAndDeployment(grid);
    await call(grid.user, grid.agent, 'deployment.deploy', { deployment: deployment as never });
    const old = (await (await fetch(`${grid.ledger.url}/v1/head`)).json()) as JsonValue;
    // More leaves (the node's own reports), then the server starts answering the old head.
    await waitFor('the log to grow', async () => {
      const now = (await (await fetch(`${grid.ledger.url}/v1/head`)).json()) as { size: number };
      return now.size > (old as { size: number }).size + 2;
    });
    const verified = grid.agent.follower.head!;
    grid.proxy!.rewrite = (path, body) => (path === '/v1/head' ? old : body);
    // The replayed head is refused (it may be a replay by someone in between, so it is not
    // final); the node keeps the head it verified, which ages until the lease runs out.
    await waitFor('the replayed head refused', async () => {
      try {
        await grid.agent.follower.sync();
        return false;
      } catch (err) {
        return (err as { code?: string }).code === 'LEDGER_ROLLBACK';
      }
    });
    assert.ok(
      grid.agent.follower.head!.size >= verified.size,
      'the verified view did not roll back',
    );
    await waitFor('the node fenced', () => grid.agent.engine.fenced);
    assert.deepEqual(
      grid.agent.engine.all().map((d) => [d.contract, d.state]),
      [[contract, 'fenced']],
    );
    const next = await contractAndDeployment(grid, grid.user, [], { waitForNode: false });
    const before = nodeState(grid);
    await assert.rejects(
      grid.agent.engine.submit(grid.user.id, next.deployment, 'deploy'),
      hasCode('NODE_FENCED'),
    );
    assert.equal(nodeState(grid), before);
    // The truth again: the node catches up and its lease runs again.
    grid.proxy!.rewrite = undefined;
    await waitFor('the node unfenced', async () => {
      await grid.agent.tick();
      return !grid.agent.engine.fenced;
    });
  });
});
