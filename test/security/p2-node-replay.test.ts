/*
 * P2: a deployment request captured on the wire and sent again after the node restarted
 * changes nothing. The node's relay client keeps the envelope ids it accepted under its
 * --data folder, so the replay is refused (ENVELOPE_REPLAYED) across the restart, and the
 * deployment its owner deleted meanwhile stays deleted.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { VdcError } from '../../src/core/errors.ts';
import {
  call,
  contractAndDeployment,
  nodeState,
  startNodeGrid,
  waitFor,
} from '../support/node-fixture.ts';

describe('P2: replayed requests', () => {
  test('a deploy envelope replayed after a node restart is refused and changes nothing', async (t) => {
    const grid = await startNodeGrid(t);
    const { contract, deployment } = await contractAndDeployment(grid);
    const envelope = grid.user.relay.seal(
      grid.agent.twin,
      'request',
      { method: 'deployment.deploy', params: { deployment: deployment as never } },
      { ttlMs: 120_000 },
    );
    await grid.user.relay.sendEnvelope(envelope);
    await waitFor('the deployment', () => grid.agent.engine.all().length === 1);
    await call(grid.user, grid.agent, 'deployment.delete', { contract });
    await grid.agent.close();

    const again = await grid.startAgent();
    const refused: VdcError[] = [];
    again.relay.onRefused((err) => refused.push(err));
    const before = nodeState(grid);
    let relayRefused = false;
    try {
      await grid.user.relay.sendEnvelope(envelope);
    } catch {
      relayRefused = true; // the relay itself may refuse a duplicate id: just as good
    }
    if (!relayRefused)
      await waitFor('the node to refuse the replay', () =>
        refused.some((e) => e.code === 'ENVELOPE_REPLAYED'),
      );
    // A request sent after the replay is answered, so the replay was handled before it.
    assert.deepEqual(await call(grid.user, again, 'deployment.list'), []);
    assert.equal(nodeState(grid), before);
  });
});
