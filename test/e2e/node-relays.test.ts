/*
 * A node with several relays (`vdc node serve --relay A --relay B`): it registers both in
 * its twin and stays connected to both, so a twin on relay B reaches it, and keeps reaching
 * it after relay A is gone.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { toHex } from '../../src/core/hex.ts';
import { Identity } from '../../src/identity/index.ts';
import { LedgerClient, signEnrolGrant } from '../../src/ledger/index.ts';
import { loadNodeIdentity, startNodeAgent } from '../../src/node/index.ts';
import { openTwinDirectory, RelayClient, startRelayServer } from '../../src/relay/index.ts';
import { startTestLedger, tempDir } from '../support/ledger-fixture.ts';
import { quiet } from '../support/node-fixture.ts';

describe('node with several relays', () => {
  test('registers every --relay and answers through each; survives losing one', async (t) => {
    const ledger = await startTestLedger(t, tempDir(t));
    const relay = async () => {
      const directory = await openTwinDirectory(ledger.url, { home: tempDir(t) });
      t.after(() => directory.close());
      const server = await startRelayServer({
        host: '127.0.0.1',
        port: 0,
        directory,
        logger: quiet,
      });
      t.after(() => server.close());
      return server;
    };
    const [a, b] = [await relay(), await relay()];

    const twin = async (relayUrl: string) => {
      const identity = Identity.fromSeed(randomBytes(64));
      const client = await LedgerClient.connect({ url: ledger.url, home: tempDir(t) });
      const receipt = await client.submit(identity, 'twin.create', {
        encryptionKey: toHex(identity.encryptionPublicKey),
        relays: [new URL(relayUrl).href],
      });
      return { identity, client, id: receipt.created['twins']! };
    };
    const farmer = await twin(a.url);
    const farm = (await farmer.client.submit(farmer.identity, 'farm.create', { name: 'x' }))
      .created['farms']!;
    const data = tempDir(t, 'vdc-node-');
    const { identity } = loadNodeIdentity(data);
    const grant = signEnrolGrant(farmer.identity, {
      ledger: farmer.client.follower.ledger,
      farm,
      nodeKey: toHex(identity.signingPublicKey),
      expires: Date.now() + 3_600_000,
    });
    const agent = await startNodeAgent({
      data,
      ledgerUrl: ledger.url,
      relayUrl: a.url,
      moreRelays: [b.url],
      farm,
      identity,
      grant,
      reportIntervalMs: 500,
      logger: quiet,
    });
    t.after(() => agent.close());
    const listed = agent.follower.view.twin(agent.twin)?.relays;
    assert.deepEqual(listed, [new URL(a.url).href, new URL(b.url).href]);
    await agent.relay.ready(15_000, { all: true });

    // A user who lives on relay B only.
    const user = await twin(b.url);
    const directory = await openTwinDirectory(ledger.url, { home: tempDir(t) });
    t.after(() => directory.close());
    const client = new RelayClient({
      url: b.url,
      identity: user.identity,
      twin: user.id,
      directory,
      dataDir: tempDir(t),
      reconnect: { minDelayMs: 20, maxDelayMs: 200 },
      logger: quiet,
    });
    t.after(() => client.close());
    await client.ready(15_000);
    const ask = async () =>
      (await client.request(agent.twin, { method: 'node.stats' }, { timeoutMs: 10_000 })) as {
        node: number;
      };
    assert.equal((await ask()).node, agent.node);
    await a.close();
    assert.equal((await ask()).node, agent.node, 'still answering with relay A gone');
  });
});
