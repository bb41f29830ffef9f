/*
 * P6 over the wire: the list of bad submissions sent to a real ledger server on
 * loopback as raw HTTP, each refused with its code (and the status of its kind), with the
 * log, its head and the server's projection unchanged. The in-process versions of these
 * checks are test/security/p6-tx-envelope.test.ts; this is the same promise at the edge.
 */
import assert from 'node:assert/strict';
import { randomBytes, sign } from 'node:crypto';
import { describe, test } from 'node:test';
import { canonicalize } from '../../src/core/canonical-json.ts';
import type { ErrorCode } from '../../src/core/error-codes.ts';
import { httpStatusOf, VdcError } from '../../src/core/errors.ts';
import { toHex } from '../../src/core/hex.ts';
import { privateKeyFromSeed, rawPublicKey } from '../../src/core/keys.ts';
import { SIGNING_TAGS } from '../../src/core/signing-tags.ts';
import type { Identity } from '../../src/identity/index.ts';
import { ledgerId } from '../../src/ledger/ledger-id.ts';
import type { RunningLedger } from '../../src/ledger/ledger-server.ts';
import type { Submission, Transaction } from '../../src/ledger/tx-format.ts';
import { signTransaction } from '../../src/ledger/tx-sign.ts';
import { newIdentity } from '../../src/ledger/tx-test-kit.ts';
import { newUser, registerTwin, startTestLedger, tempDir } from '../support/ledger-fixture.ts';

type T = { after: (fn: () => unknown) => void };

async function setup(t: T) {
  const ledger = await startTestLedger(t, tempDir(t));
  const { identity, client } = await newUser(t, ledger.url);
  const twin = await registerTwin(client, identity);
  const accepted = farm(ledger, identity, twin, 2, 'home');
  await client.follower.sync();
  const answer = await post(ledger, JSON.stringify(accepted));
  assert.equal(answer.status, 200, answer.text);
  return { ledger, identity, twin, accepted };
}

function farm(
  ledger: RunningLedger,
  identity: Identity,
  twin: number,
  nonce: number,
  name: string,
) {
  return signTransaction(identity, {
    type: 'farm.create',
    twin,
    nonce,
    ledger: ledger.service.ledger,
    body: { name },
  });
}

async function post(
  ledger: RunningLedger,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${ledger.url}/v1/submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, text: await res.text() };
}

/** Posts `body`, expects the refusal `code` with its status, and that nothing changed. */
async function refused(ledger: RunningLedger, body: string | Uint8Array, code: ErrorCode) {
  const head = ledger.service.head;
  const digest = ledger.service.projection.digest();
  const stored = await ledger.service.store.size();
  const { status, text } = await post(ledger, body);
  const answer = JSON.parse(text) as { error?: { code: string; message: string } };
  assert.equal(answer.error?.code, code, text);
  assert.equal(status, httpStatusOf(new VdcError(code, 'x')), text);
  assert.ok((answer.error?.message.length ?? 0) > 10, 'the message says what was wrong');
  assert.deepEqual(ledger.service.head, head, 'the head moved');
  assert.equal(ledger.service.projection.digest(), digest, 'the projection moved');
  assert.equal(await ledger.service.store.size(), stored, 'the log grew');
}

const text = (submission: Submission | object) => JSON.stringify(submission);

describe('P6 the ledger server refuses bad submissions over HTTP', () => {
  test('unsigned: no sig, an empty sig, a null sig → TX_UNSIGNED', async (t) => {
    const { ledger, identity, twin } = await setup(t);
    const { tx } = farm(ledger, identity, twin, 3, 'x');
    await refused(ledger, text({ tx }), 'TX_UNSIGNED');
    await refused(ledger, text({ tx, sig: '' }), 'TX_UNSIGNED');
    await refused(ledger, text({ tx, sig: null }), 'TX_UNSIGNED');
  });

  test("wrongly signed: another key's signature, a flipped bit, a changed body → TX_SIGNATURE_INVALID", async (t) => {
    const { ledger, identity, twin } = await setup(t);
    const signed = farm(ledger, identity, twin, 3, 'x');
    const mallory = newIdentity();
    await refused(
      ledger,
      text({ tx: signed.tx, sig: toHex(mallory.sign(SIGNING_TAGS.tx, signed.tx)) }),
      'TX_SIGNATURE_INVALID',
    );
    const flipped = Buffer.from(signed.sig, 'hex');
    flipped[0]! ^= 0x80;
    await refused(ledger, text({ tx: signed.tx, sig: toHex(flipped) }), 'TX_SIGNATURE_INVALID');
    await refused(
      ledger,
      text({ tx: { ...signed.tx, body: { name: 'y' } }, sig: signed.sig }),
      'TX_SIGNATURE_INVALID',
    );
    // Control: the untouched submission is accepted.
    assert.equal((await post(ledger, text(signed))).status, 200);
  });

  test('signed under another tag, or with no tag → TX_WRONG_TAG', async (t) => {
    const { ledger, identity, twin } = await setup(t);
    const { tx } = farm(ledger, identity, twin, 3, 'x');
    for (const tag of [SIGNING_TAGS.head, SIGNING_TAGS.enrol, SIGNING_TAGS.login])
      await refused(ledger, text({ tx, sig: toHex(identity.sign(tag, tx)) }), 'TX_WRONG_TAG');
    // A bare Ed25519 signature over the canonical transaction, with no tag at all.
    const key = privateKeyFromSeed('ed25519', randomBytes(32));
    const bare: Transaction = { ...tx, signer: toHex(rawPublicKey(key)) };
    const sig = toHex(sign(null, Buffer.from(canonicalize(bare)), key));
    await refused(ledger, text({ tx: bare, sig }), 'TX_WRONG_TAG');
  });

  test('for another ledger → TX_WRONG_LEDGER', async (t) => {
    const { ledger, identity, twin } = await setup(t);
    const other = ledgerId(newIdentity().signingPublicKey);
    const submission = signTransaction(identity, {
      type: 'farm.create',
      twin,
      nonce: 3,
      ledger: other,
      body: { name: 'x' },
    });
    await refused(ledger, text(submission), 'TX_WRONG_LEDGER');
  });

  test('a replayed nonce: the accepted submission again, or a lower nonce → TX_NONCE_REPLAYED', async (t) => {
    const { ledger, identity, twin, accepted } = await setup(t);
    await refused(ledger, text(accepted), 'TX_NONCE_REPLAYED');
    await refused(ledger, text(farm(ledger, identity, twin, 2, 'again')), 'TX_NONCE_REPLAYED');
    await refused(ledger, text(farm(ledger, identity, twin, 1, 'older')), 'TX_NONCE_REPLAYED');
  });

  test('a key that is not the twin owner’s → TX_SIGNER_NOT_AUTHORISED', async (t) => {
    const { ledger, twin } = await setup(t);
    const mallory = newIdentity();
    await refused(ledger, text(farm(ledger, mallory, twin, 1, 'mine')), 'TX_SIGNER_NOT_AUTHORISED');
  });

  test('bodies over 64 KiB → INPUT_TOO_LARGE (declared length), TX_TOO_LARGE never reached', async (t) => {
    const { ledger, identity, twin } = await setup(t);
    const big = farm(ledger, identity, twin, 3, 'x') as Submission & { pad?: string };
    const padded = `${text(big).slice(0, -1)},"pad":"${'a'.repeat(70_000)}"}`;
    assert.ok(Buffer.byteLength(padded) > 64 * 1024);
    await refused(ledger, padded, 'INPUT_TOO_LARGE');
    await refused(ledger, Buffer.alloc(1024 * 1024, 0x20), 'INPUT_TOO_LARGE');
  });

  test('a body over 64 KiB sent without a length (chunked) is answered INPUT_TOO_LARGE, nothing logged', async (t) => {
    const { ledger } = await setup(t);
    const head = ledger.service.head;
    const chunk = new TextEncoder().encode(`{"tx":"${'a'.repeat(16 * 1024)}`);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    // The answer must arrive, not a reset: the server reads and drops the rest of the body.
    const res = await fetch(`${ledger.url}/v1/submit`, {
      method: 'POST',
      body: stream,
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('connection'), 'close');
    assert.equal(
      ((await res.json()) as { error?: { code: string } }).error?.code,
      'INPUT_TOO_LARGE',
    );
    assert.deepEqual(ledger.service.head, head);
    assert.equal(await ledger.service.store.size(), head.size);
  });

  test('malformed JSON → the strict parser’s code', async (t) => {
    const { ledger, identity, twin } = await setup(t);
    const good = text(farm(ledger, identity, twin, 3, 'x'));
    await refused(ledger, good.slice(0, -1), 'JSON_MALFORMED');
    await refused(ledger, '', 'JSON_MALFORMED');
    await refused(ledger, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 'JSON_MALFORMED');
    await refused(ledger, good.replace('{"tx":', '{"sig":"00","tx":'), 'JSON_DUPLICATE_KEY');
    await refused(ledger, good.replace('"nonce":3', '"nonce":1e999'), 'JSON_NON_FINITE');
    await refused(ledger, `${'['.repeat(100)}${']'.repeat(100)}`, 'JSON_TOO_DEEP');
  });

  test('well-formed JSON of the wrong shape → TX_MALFORMED / TX_TYPE_UNKNOWN', async (t) => {
    const { ledger, identity, twin } = await setup(t);
    const { tx, sig } = farm(ledger, identity, twin, 3, 'x');
    await refused(ledger, '[]', 'TX_MALFORMED');
    await refused(ledger, text({ tx, sig, extra: 1 }), 'TX_MALFORMED');
    await refused(ledger, text({ tx: { ...tx, nonce: '3' }, sig }), 'TX_MALFORMED');
    const forged: Transaction = { ...tx, type: 'farm.delete' as Transaction['type'] };
    await refused(
      ledger,
      text({ tx: forged, sig: toHex(identity.sign(SIGNING_TAGS.tx, forged)) }),
      'TX_TYPE_UNKNOWN',
    );
  });
});
