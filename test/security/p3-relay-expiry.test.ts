import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VdcError } from '../../src/core/errors.ts';
import { sealEnvelope } from '../../src/relay/envelope-crypto.ts';
import {
  addTwin,
  connectTwin,
  newDirectory,
  rawLogin,
  startTestRelay,
} from '../../src/relay/relay-test-kit.ts';

test('the relay refuses expired envelopes and expiries beyond the cap', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir);
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const a = await rawLogin(t, relay.url, alice);
  const b = await rawLogin(t, relay.url, bob);
  const seal = (expires: number) =>
    sealEnvelope({
      sender: alice.identity,
      from: 1,
      to: { id: 2, encryptionKey: bob.identity.encryptionPublicKey },
      kind: 'note',
      payload: Buffer.from('x'),
      expires,
    });
  a.send({ type: 'send', envelope: seal(Date.now() - 1) });
  assert.equal((await a.next())['code'], 'ENVELOPE_EXPIRED');
  a.send({ type: 'send', envelope: seal(Date.now() + 60 * 60_000) });
  assert.equal((await a.next())['code'], 'ENVELOPE_EXPIRY_TOO_FAR');
  assert.equal(b.frames.length, 2, 'Bob got nothing but his challenge and ready frames');
  assert.deepEqual(relay.stats().queue, { twins: 0, envelopes: 0, bytes: 0 });
});

test('a receiver enforces its own cap even when a relay lets a far expiry through', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir, { limits: { maxLifetimeMs: 24 * 60 * 60_000 } });
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const ca = await connectTwin(t, relay.url, alice, dir);
  const cb = await connectTwin(t, relay.url, bob, dir);
  const refused = new Promise<VdcError>((resolve) => cb.onRefused(resolve));
  let got = 0;
  cb.onMessage(() => got++);
  const far = ca.seal(2, 'note', 'x', { ttlMs: 60 * 60_000 });
  assert.equal(await ca.sendEnvelope(far), 'delivered');
  assert.equal((await refused).code, 'ENVELOPE_EXPIRY_TOO_FAR');
  assert.equal(got, 0);
});
