import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sealEnvelope } from '../../src/relay/envelope-crypto.ts';
import { addTwin, newDirectory, rawLogin, startTestRelay } from '../../src/relay/relay-test-kit.ts';

/*
 * The relay takes from a connection only envelopes whose `from` is the twin that logged in
 * on it: a twin cannot inject (or replay) envelopes signed by someone else.
 */

test('an envelope from a twin other than the logged-in one is refused with RELAY_SENDER_MISMATCH', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir);
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const carol = addTwin(dir, 3);
  const a = await rawLogin(t, relay.url, alice);
  const b = await rawLogin(t, relay.url, bob);
  // A perfectly valid envelope from Carol, sent over Alice's connection.
  const carols = sealEnvelope({
    sender: carol.identity,
    from: 3,
    to: { id: 2, encryptionKey: bob.identity.encryptionPublicKey },
    kind: 'note',
    payload: Buffer.from('c'),
    expires: Date.now() + 60_000,
  });
  a.send({ type: 'send', envelope: carols });
  const answer = await a.next();
  assert.deepEqual(
    [answer['type'], answer['code'], answer['id']],
    ['error', 'RELAY_SENDER_MISMATCH', carols.id],
  );
  // Alice forging Carol's name on her own signature fares no better.
  const forged = sealEnvelope({
    sender: alice.identity,
    from: 3,
    to: { id: 2, encryptionKey: bob.identity.encryptionPublicKey },
    kind: 'note',
    payload: Buffer.from('c'),
    expires: Date.now() + 60_000,
  });
  a.send({ type: 'send', envelope: forged });
  assert.equal((await a.next())['code'], 'RELAY_SENDER_MISMATCH');
  assert.equal(b.frames.length, 2, 'Bob got nothing but his challenge and ready frames');
  assert.deepEqual([relay.stats().delivered, relay.stats().queued], [0, 0]);
});
