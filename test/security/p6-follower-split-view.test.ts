/*
 * P6 split view: a ledger operator with the real key keeps two histories and shows each to
 * different parties. A node that verified one history reports its head on the other (in
 * node.report, gossip through the log); every follower of that other history compares the
 * reported head with its own tree at that size and refuses with LEDGER_SPLIT_VIEW, naming
 * both roots, then refuses all use. An honest ledger refuses such a report outright
 * (NODE_REPORT_HEAD_MISMATCH), so the dishonest operator here runs one that logs it.
 * Identities are real: the node is enrolled through its farmer's signed grant.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { toHex } from '../../src/core/hex.ts';
import type { Identity } from '../../src/identity/index.ts';
import type { LedgerClient } from '../../src/ledger/ledger-client.ts';
import { LedgerFollower } from '../../src/ledger/ledger-follower.ts';
import { signEnrolGrant } from '../../src/ledger/tx-sign.ts';
import { DAY, newIdentity } from '../../src/ledger/tx-test-kit.ts';
import {
  hasCode,
  newUser,
  registerTwin,
  snapshotLedger,
  startTestLedger,
  tempDir,
} from '../support/ledger-fixture.ts';

const capacity = {
  total: { cpu: 8, memory: 32 * 2 ** 30, disk: 2 ** 40 },
  used: { cpu: 1, memory: 2 ** 30, disk: 2 ** 30 },
};

function report(
  client: LedgerClient,
  node: Identity,
  id: number,
  head: { size: number; root: string },
) {
  return client.submit(node, 'node.report', { node: id, uptime: 60, capacity, head });
}

/** A farmer, a farm and a node enrolled through the farmer's grant, on a fresh ledger. */
async function grid(t: { after: (fn: () => unknown) => void }) {
  const dir = tempDir(t);
  const ledger = await startTestLedger(t, dir);
  const farmer = await newUser(t, ledger.url);
  await registerTwin(farmer.client, farmer.identity);
  const farm = (await farmer.client.submit(farmer.identity, 'farm.create', { name: 'f' })).created[
    'farms'
  ]!;
  const node = newIdentity();
  const grant = signEnrolGrant(farmer.identity, {
    ledger: ledger.service.ledger,
    farm,
    nodeKey: toHex(node.signingPublicKey),
    expires: Date.now() + DAY,
  });
  const nodeUser = await newUser(t, ledger.url);
  const registered = await nodeUser.client.submit(node, 'node.register', {
    farm,
    encryptionKey: toHex(node.encryptionPublicKey),
    relays: [],
    ...grant,
  });
  return {
    dir,
    ledger,
    farmer,
    node,
    nodeId: registered.created['nodes']!,
    nodeClient: nodeUser.client,
  };
}

describe('P6 follower: split view', () => {
  test('control: a node reporting the head it verified on the same log is accepted by followers', async (t) => {
    const { ledger, node, nodeId, nodeClient } = await grid(t);
    const seen = ledger.service.head;
    await report(nodeClient, node, nodeId, { size: seen.size, root: seen.root });
    const follower = new LedgerFollower({ url: ledger.url, ledgerKey: ledger.service.publicKey });
    await follower.sync();
    assert.equal(follower.view.node(nodeId)?.head?.root, seen.root);
    assert.equal(follower.view.digest(), ledger.service.projection.digest());
  });

  test('a node reports the head of the other history → LEDGER_SPLIT_VIEW for every follower', async (t) => {
    const base = await grid(t);
    // The operator copies its store and key, and runs two histories from here on.
    const { ledger: a, copy } = await snapshotLedger(t, base.ledger, base.dir, { dishonest: true });
    const b = await startTestLedger(t, copy);
    const farmerOnA = await newUser(t, a.url);
    const farmerOnB = await newUser(t, b.url);
    await farmerOnA.client.submit(base.farmer.identity, 'farm.create', { name: 'shown-to-users' });
    await farmerOnB.client.submit(base.farmer.identity, 'farm.create', { name: 'shown-to-node' });
    assert.equal(a.service.head.size, b.service.head.size);
    assert.notEqual(a.service.head.root, b.service.head.root);

    // A user follows A, with its head on disk.
    const stateFile = join(tempDir(t), 'head.json');
    const user = new LedgerFollower({ url: a.url, ledgerKey: a.service.publicKey, stateFile });
    await user.sync();
    const userHead = user.head;

    // The node follows B and verified B's head; its report is accepted by A (it is the node's signed word).
    const nodeOnB = new LedgerFollower({ url: b.url, ledgerKey: b.service.publicKey });
    const nodeHead = await nodeOnB.sync();
    const nodeOnA = await newUser(t, a.url);
    await assert.rejects(
      report(nodeOnA.client, base.node, base.nodeId, { size: nodeHead.size, root: nodeHead.root }),
      hasCode('LEDGER_SPLIT_VIEW'),
      "the node's own client, syncing after its report, sees the split too",
    );
    assert.equal(a.service.projection.node(base.nodeId)?.head?.root, nodeHead.root);

    // The user's follower reads the report and refuses.
    await assert.rejects(user.sync(), hasCode('LEDGER_SPLIT_VIEW'));
    const err = user.failure!;
    assert.ok(err.message.includes(nodeHead.root), 'names the root the node verified');
    assert.ok(err.message.includes(userHead!.root), "names this log's root at that size");
    assert.throws(() => user.view, hasCode('LEDGER_SPLIT_VIEW'));
    await assert.rejects(user.sync(), hasCode('LEDGER_SPLIT_VIEW'));
    // The head it verified and saved is still the one before the report.
    const restarted = new LedgerFollower({ url: a.url, ledgerKey: a.service.publicKey, stateFile });
    await assert.rejects(restarted.sync(), hasCode('LEDGER_SPLIT_VIEW'));

    // A fresh follower of A, from nothing, refuses the same log.
    const fresh = new LedgerFollower({ url: a.url, ledgerKey: a.service.publicKey });
    await assert.rejects(fresh.sync(), hasCode('LEDGER_SPLIT_VIEW'));
    assert.equal(fresh.head, undefined);
  });

  test('an honest ledger refuses a report with a root its log does not have, so no node can condemn it', async (t) => {
    const { ledger, node, nodeId, nodeClient } = await grid(t);
    const stateFile = join(tempDir(t), 'head.json');
    const follower = new LedgerFollower({
      url: ledger.url,
      ledgerKey: ledger.service.publicKey,
      stateFile,
    });
    await follower.sync();
    const size = ledger.service.head.size;
    await assert.rejects(
      report(nodeClient, node, nodeId, { size: 2, root: 'ab'.repeat(32) }),
      hasCode('NODE_REPORT_HEAD_MISMATCH'),
    );
    assert.equal(ledger.service.head.size, size, 'nothing was logged');
    await follower.sync();
    assert.equal(follower.failure, undefined, 'followers are not condemned');
  });
});
