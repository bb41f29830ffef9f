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
  test('a rolled-back head fences the node for good and it takes nothing more', async (t) => {
    const grid = await startNodeGrid(t, { proxyLedger: true, reportIntervalMs: 300 });
    const { contract, deployment } = await contractAndDeployment(grid);
    await call(grid.user, grid.agent, 'deployment.deploy', { deployment: deployment as never });
    const old = (await (await fetch(`${grid.ledger.url}/v1/head`)).json()) as JsonValue;
    // More leaves (the node's own reports), then the server starts answering the old head.
    await waitFor('the log to grow', async () => {
      const now = (await (await fetch(`${grid.ledger.url}/v1/head`)).json()) as { size: number };
      return now.size > (old as { size: number }).size + 2;
    });
    grid.proxy!.rewrite = (path, body) => (path === '/v1/head' ? old : body);
    await waitFor('the node to catch the rollback', () => grid.agent.follower.failure);
    assert.equal(grid.agent.follower.failure?.code, 'LEDGER_ROLLBACK');
    await waitFor('the node fenced', () => grid.agent.engine.fenced);
    assert.deepEqual(
      grid.agent.engine.all().map((d) => [d.contract, d.state]),
      [[contract, 'fenced']],
    );
    // Its relay client looks twins up in the same failed view, so it opens no envelope at all;
    // the engine itself refuses too.
    const next = await contractAndDeployment(grid, grid.user, [], { waitForNode: false });
    const before = nodeState(grid);
    await assert.rejects(
      grid.agent.engine.submit(grid.user.id, next.deployment, 'deploy'),
      hasCode('NODE_FENCED'),
    );
    assert.equal(nodeState(grid), before);
    // Telling the truth again does not undo it: the evidence stands.
    grid.proxy!.rewrite = undefined;
    await grid.agent.tick();
    assert.equal(grid.agent.engine.fenced, true);
  });
});
