import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.ts';
import { SIGNING_TAGS } from '../../src/core/signing-tags.ts';
import type { Envelope } from '../../src/relay/envelope.ts';
import { envelopeSigned } from '../../src/relay/envelope.ts';
import { sealEnvelope } from '../../src/relay/envelope-crypto.ts';
import { EnvelopeReceiver } from '../../src/relay/envelope-receiver.ts';
import {
  addTwin,
  newDirectory,
  rawLogin,
  startTestRelay,
  tempDir,
} from '../../src/relay/relay-test-kit.ts';

/*
 * P3: an envelope altered anywhere, in its ciphertext, its header or its signature, is
 * refused by the relay and by the receiver, and refusing it changes nothing.
 */

function flipHex(h: string): string {
  return (h[0] === '0' ? '1' : '0') + h.slice(1);
}

function flipBase64(b: string): string {
  const raw = Buffer.from(b, 'base64');
  raw[0]! ^= 1;
  return raw.toString('base64');
}

function tamperings(e: Envelope): [string, Envelope][] {
  return [
    ['ciphertext', { ...e, ciphertext: flipBase64(e.ciphertext) }],
    ['kind', { ...e, kind: 'other' }],
    ['expires', { ...e, expires: e.expires - 1 }],
    ['replyTo', { ...e, replyTo: 'ab'.repeat(16) }],
    ['id', { ...e, id: flipHex(e.id) }],
    ['ephemeral', { ...e, ephemeral: flipHex(e.ephemeral) }],
    ['signature', { ...e, signature: flipHex(e.signature) }],
  ];
}

test('the relay refuses a tampered envelope with ENVELOPE_SIGNATURE_INVALID and delivers nothing', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir);
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const a = await rawLogin(t, relay.url, alice);
  const b = await rawLogin(t, relay.url, bob);
  const seal = () =>
    sealEnvelope({
      sender: alice.identity,
      from: 1,
      to: { id: 2, encryptionKey: bob.identity.encryptionPublicKey },
      kind: 'note',
      payload: Buffer.from('x'),
      expires: Date.now() + 60_000,
    });
  for (const [field, bad] of tamperings(seal())) {
    a.send({ type: 'send', envelope: bad });
    const answer = await a.next();
    assert.deepEqual(
      [field, answer['type'], answer['code']],
      [field, 'error', 'ENVELOPE_SIGNATURE_INVALID'],
    );
  }
  // One genuine envelope after them: it is the first and only thing Bob receives.
  const good = seal();
  a.send({ type: 'send', envelope: good });
  assert.equal((await a.next())['status'], 'delivered');
  const first = await b.next();
  assert.equal((first['envelope'] as Envelope).id, good.id);
  assert.equal(b.frames.length, 3, 'challenge, ready, then the genuine envelope only');
  assert.equal(relay.stats().delivered, 1);
  assert.equal(relay.stats().refused, 7);
});

test('the receiver refuses tampered envelopes a relay might pass on, and still accepts the genuine one', async (t) => {
  const dir = newDirectory();
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const clock = new ManualClock(Date.now());
  const receiver = new EnvelopeReceiver({
    identity: bob.identity,
    twin: 2,
    directory: dir,
    dataDir: tempDir(t),
    clock,
  });
  t.after(() => receiver.close());
  const e = sealEnvelope({
    sender: alice.identity,
    from: 1,
    to: { id: 2, encryptionKey: bob.identity.encryptionPublicKey },
    kind: 'note',
    payload: Buffer.from('pay'),
    expires: clock.now() + 60_000,
  });
  for (const [field, bad] of tamperings(e))
    await assert.rejects(receiver.open(bad), { code: 'ENVELOPE_SIGNATURE_INVALID' }, field);
  assert.equal((await receiver.open(e)).payload.toString(), 'pay');
});

test("a twin that re-signs another twin's envelope as its own cannot make it decrypt", async (t) => {
  // Mallory takes Alice's envelope to Bob, claims it (from: 3) and signs it with her own
  // key: the signature holds, but the AEAD bound the original header, so it does not open.
  const dir = newDirectory();
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const mallory = addTwin(dir, 3);
  const receiver = new EnvelopeReceiver({
    identity: bob.identity,
    twin: 2,
    directory: dir,
    dataDir: tempDir(t),
  });
  t.after(() => receiver.close());
  const e = sealEnvelope({
    sender: alice.identity,
    from: 1,
    to: { id: 2, encryptionKey: bob.identity.encryptionPublicKey },
    kind: 'note',
    payload: Buffer.from('alice says'),
    expires: Date.now() + 60_000,
  });
  const claimed = { ...e, from: 3 };
  const resigned = {
    ...claimed,
    signature: mallory.identity
      .sign(SIGNING_TAGS.envelope, envelopeSigned(claimed))
      .toString('hex'),
  };
  await assert.rejects(receiver.open(resigned), { code: 'ENVELOPE_DECRYPT_FAILED' });
  // Refusing it recorded nothing: Alice's genuine envelope still opens.
  assert.equal((await receiver.open(e)).payload.toString(), 'alice says');
});

test('a signature made for another purpose does not verify as an envelope signature', async (t) => {
  const dir = newDirectory();
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const receiver = new EnvelopeReceiver({
    identity: bob.identity,
    twin: 2,
    directory: dir,
    dataDir: tempDir(t),
  });
  t.after(() => receiver.close());
  const e = sealEnvelope({
    sender: alice.identity,
    from: 1,
    to: { id: 2, encryptionKey: bob.identity.encryptionPublicKey },
    kind: 'note',
    payload: Buffer.from('x'),
    expires: Date.now() + 60_000,
  });
  const otherTag = alice.identity.sign(SIGNING_TAGS.relay, envelopeSigned(e)).toString('hex');
  await assert.rejects(receiver.open({ ...e, signature: otherTag }), {
    code: 'ENVELOPE_SIGNATURE_INVALID',
  });
});
