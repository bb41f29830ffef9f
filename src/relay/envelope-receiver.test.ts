import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import { sealEnvelope } from './envelope-crypto.ts';
import { EnvelopeReceiver } from './envelope-receiver.ts';
import { addTwin, newDirectory, tempDir } from './relay-test-kit.ts';

function setup(t: { after: (fn: () => unknown) => void }) {
  const dir = newDirectory();
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const clock = new ManualClock();
  const data = tempDir(t);
  const open = () =>
    new EnvelopeReceiver({ identity: bob.identity, twin: 2, directory: dir, dataDir: data, clock });
  const seal = (payload = 'secret', over: { expires?: number; to?: number } = {}) =>
    sealEnvelope({
      sender: alice.identity,
      from: 1,
      to: { id: over.to ?? 2, encryptionKey: bob.identity.encryptionPublicKey },
      kind: 'note',
      payload: Buffer.from(payload),
      expires: over.expires ?? clock.now() + 60_000,
    });
  return { dir, alice, bob, clock, open, seal };
}

test('opens an envelope sealed to this twin and gives back the payload', async (t) => {
  const { open, seal } = setup(t);
  const receiver = open();
  t.after(() => receiver.close());
  const e = seal('hello bob');
  const opened = await receiver.open(JSON.parse(JSON.stringify(e)));
  assert.equal(opened.payload.toString(), 'hello bob');
  assert.equal(opened.sender.id, 1);
  assert.equal(opened.envelope.id, e.id);
});

test('refuses an envelope for another twin with ENVELOPE_WRONG_RECIPIENT', async (t) => {
  const { open, seal } = setup(t);
  const receiver = open();
  t.after(() => receiver.close());
  await assert.rejects(receiver.open(seal('x', { to: 3 })), { code: 'ENVELOPE_WRONG_RECIPIENT' });
});

test('refuses an expired envelope, and one expiring beyond the cap', async (t) => {
  const { open, seal, clock } = setup(t);
  const receiver = open();
  t.after(() => receiver.close());
  const e = seal('x', { expires: clock.now() + 1000 });
  clock.advance(1000);
  await assert.rejects(receiver.open(e), { code: 'ENVELOPE_EXPIRED' });
  const far = seal('x', { expires: clock.now() + 10 * 60_000 });
  await assert.rejects(receiver.open(far), { code: 'ENVELOPE_EXPIRY_TOO_FAR' });
});

test('refuses a replay, also after the receiver restarts, until the id expires', async (t) => {
  const { open, seal, clock } = setup(t);
  const e = seal('once', { expires: clock.now() + 60_000 });
  const first = open();
  await first.open(e);
  await assert.rejects(first.open(e), { code: 'ENVELOPE_REPLAYED' });
  await first.close();
  const second = open();
  t.after(() => second.close());
  await assert.rejects(second.open(e), { code: 'ENVELOPE_REPLAYED' });
  // Once it expired it is refused as expired: the id may then be forgotten safely.
  clock.advance(60_000);
  await assert.rejects(second.open(e), { code: 'ENVELOPE_EXPIRED' });
});

test('refuses an envelope from a twin the ledger does not know', async (t) => {
  const { open, seal, dir } = setup(t);
  const receiver = open();
  t.after(() => receiver.close());
  const e = seal();
  dir.delete(1);
  await assert.rejects(receiver.open(e), { code: 'ENVELOPE_SENDER_UNKNOWN' });
});

test('refuses what is not an envelope with ENVELOPE_MALFORMED', async (t) => {
  const { open, seal } = setup(t);
  const receiver = open();
  t.after(() => receiver.close());
  const e = seal();
  for (const bad of [
    null,
    [],
    'x',
    { ...e, extra: 1 },
    { ...e, from: -1 },
    { ...e, id: 'AB' },
    { ...e, ciphertext: 'a' },
  ]) {
    await assert.rejects(
      receiver.open(bad),
      { code: 'ENVELOPE_MALFORMED' },
      JSON.stringify(bad)?.slice(0, 60),
    );
  }
  const { replyTo: _r, ...lacking } = e;
  await assert.rejects(receiver.open(lacking), { code: 'ENVELOPE_MALFORMED' });
});

test('refuses an oversized payload when sealing and an oversized ciphertext when opening', async (t) => {
  const { open, seal } = setup(t);
  const receiver = open();
  t.after(() => receiver.close());
  assert.throws(() => seal('x'.repeat(128 * 1024 + 1)), { code: 'ENVELOPE_TOO_LARGE' });
  const e = seal();
  await assert.rejects(receiver.open({ ...e, ciphertext: 'A'.repeat(200_000) }), {
    code: 'ENVELOPE_TOO_LARGE',
  });
});

test('refuses an envelope whose ephemeral key is a low-order point, even when its sender signed it', async (t) => {
  const { open, seal, alice } = setup(t);
  const receiver = open();
  t.after(() => receiver.close());
  const e = seal();
  const weak = { ...e, ephemeral: '00'.repeat(32) };
  const { signature: _s, ...unsigned } = weak;
  const signed = {
    ...weak,
    signature: alice.identity.sign(SIGNING_TAGS.envelope, unsigned).toString('hex'),
  };
  await assert.rejects(receiver.open(signed), { code: 'ENVELOPE_DECRYPT_FAILED' });
});
