import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Identity } from '../identity/index.ts';
import { sealEnvelope } from './envelope-crypto.ts';
import {
  addTwin,
  connectTwin,
  newDirectory,
  rawConnect,
  rawLogin,
  startTestRelay,
} from './relay-test-kit.ts';

test('a plain HTTP request is told to use WebSocket (426)', async (t) => {
  const relay = await startTestRelay(t, newDirectory());
  const res = await fetch(relay.url.replace('ws:', 'http:'));
  assert.equal(res.status, 426);
  await res.text();
});

test('a connection past the limit is refused at the upgrade (503)', async (t) => {
  const relay = await startTestRelay(t, newDirectory(), { limits: { maxConnections: 1 } });
  await rawConnect(t, relay.url);
  await assert.rejects(rawConnect(t, relay.url), /503/);
  assert.equal(relay.stats().connections, 1);
});

test('a second login of the same twin replaces the first (RELAY_SESSION_REPLACED)', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir);
  const bob = addTwin(dir, 2);
  const first = await rawLogin(t, relay.url, bob);
  await rawLogin(t, relay.url, bob);
  assert.equal(await first.closed, 1008);
  assert.equal(first.frames.at(-1)?.['code'], 'RELAY_SESSION_REPLACED');
  assert.deepEqual(relay.connectedTwins(), [2]);
});

test("a session is cut when its twin's key changes on the ledger (RELAY_AUTH_FAILED)", async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir);
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const a = await rawLogin(t, relay.url, alice);
  // Alice rotates her key on the ledger; the old key's session must not go on sending.
  const rotated = Identity.fromSeed(Buffer.alloc(64, 9));
  dir.set({
    id: 1,
    signingKey: rotated.signingPublicKey,
    encryptionKey: rotated.encryptionPublicKey,
    relays: [],
  });
  const e = sealEnvelope({
    sender: alice.identity,
    from: 1,
    to: { id: 2, encryptionKey: bob.identity.encryptionPublicKey },
    kind: 'note',
    payload: Buffer.from('x'),
    expires: Date.now() + 60_000,
  });
  a.send({ type: 'send', envelope: e });
  assert.equal((await a.next())['code'], 'RELAY_AUTH_FAILED');
  assert.equal(await a.closed, 1008);
  assert.deepEqual([relay.stats().delivered, relay.stats().queued], [0, 0]);
});

test('stats count what the relay delivered, queued and refused', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir);
  const ca = await connectTwin(t, relay.url, addTwin(dir, 1), dir);
  addTwin(dir, 2);
  await ca.send(2, 'note', 1);
  const cb = await connectTwin(t, relay.url, addTwin(dir, 2), dir);
  cb.onMessage(() => {});
  await ca.send(2, 'note', 2);
  const s = relay.stats();
  assert.deepEqual([s.queued, s.delivered, s.refused, s.twins], [1, 1, 0, 2]);
});
