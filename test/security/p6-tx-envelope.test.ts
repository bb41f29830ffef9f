import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ErrorCode } from '../../src/core/error-codes.ts';
import { VdcError } from '../../src/core/errors.ts';
import { toHex } from '../../src/core/hex.ts';
import { SIGNING_TAGS } from '../../src/core/signing-tags.ts';
import { ledgerId } from '../../src/ledger/ledger-id.ts';
import { MAX_BODY_BYTES, MAX_SUBMISSION_BYTES } from '../../src/ledger/tx-format.ts';
import { parseSubmissionJson } from '../../src/ledger/tx-parse.ts';
import { newIdentity, TxKit } from '../../src/ledger/tx-test-kit.ts';

/*
 * P6: nothing invalid enters the log. Every envelope-level forgery or malformation is
 * refused with its own code, and the projection (the state the log implies) is unchanged.
 */

function setup() {
  const kit = new TxKit();
  const a = kit.twin();
  kit.farm(a);
  return { kit, a };
}

/** What a server does with a request body: parse strictly, then apply as the next leaf. */
function refuseJson(kit: TxKit, text: string | Uint8Array, code: ErrorCode): void {
  const before = kit.projection.canonicalSnapshot();
  assert.throws(
    () => {
      const { raw, sig } = parseSubmissionJson(text);
      kit.projection.apply(kit.leaf({ tx: raw, sig }));
    },
    (err: unknown) => err instanceof VdcError && err.code === code,
  );
  assert.equal(kit.projection.canonicalSnapshot(), before);
}

describe('P6 transaction envelope', () => {
  it('refuses an unsigned transaction', () => {
    const { kit, a } = setup();
    const tx = kit.tx(a.identity, 'farm.create', a.twin, { name: 'x' });
    refuseJson(kit, JSON.stringify({ tx }), 'TX_UNSIGNED');
    refuseJson(kit, JSON.stringify({ tx, sig: '' }), 'TX_UNSIGNED');
    kit.refuse({ tx, sig: '' }, 'TX_UNSIGNED');
  });

  it('refuses a wrongly signed transaction: other key, other bytes, flipped bit', () => {
    const { kit, a } = setup();
    const mallory = newIdentity();
    const tx = kit.tx(a.identity, 'farm.create', a.twin, { name: 'x' });
    kit.refuse({ tx, sig: toHex(mallory.sign(SIGNING_TAGS.tx, tx)) }, 'TX_SIGNATURE_INVALID');
    const signed = kit.sign(a.identity, tx);
    kit.refuse({ tx: { ...tx, body: { name: 'y' } }, sig: signed.sig }, 'TX_SIGNATURE_INVALID');
    const flipped = Buffer.from(signed.sig, 'hex');
    flipped[10]! ^= 1;
    kit.refuse({ tx, sig: toHex(flipped) }, 'TX_SIGNATURE_INVALID');
    // The signer field claims the owner, the signature is Mallory's over that exact tx.
    refuseJson(
      kit,
      JSON.stringify({ tx, sig: toHex(mallory.sign(SIGNING_TAGS.tx, tx)) }),
      'TX_SIGNATURE_INVALID',
    );
  });

  it('refuses a signature made under another tag, naming it', () => {
    const { kit, a } = setup();
    const tx = kit.tx(a.identity, 'farm.create', a.twin, { name: 'x' });
    for (const tag of [
      SIGNING_TAGS.deployment,
      SIGNING_TAGS.enrol,
      SIGNING_TAGS.login,
      SIGNING_TAGS.head,
    ]) {
      const err = kit.refuse(kit.sign(a.identity, tx, tag), 'TX_WRONG_TAG');
      assert.match(err.message, new RegExp(tag));
    }
    kit.refuse(
      { tx, sig: toHex(a.identity.signUserMessage('myapp/tx/v1', tx)) },
      'TX_SIGNATURE_INVALID',
    );
  });

  it('refuses a transaction signed for another ledger', () => {
    const { kit, a } = setup();
    const other = ledgerId(newIdentity().signingPublicKey);
    kit.refuseTx(a.identity, 'farm.create', a.twin, { name: 'x' }, 'TX_WRONG_LEDGER', {
      ledger: other,
    });
  });

  it('refuses a replayed transaction and a reused nonce', () => {
    const { kit, a } = setup();
    const sub = kit.submission(a.identity, 'farm.create', a.twin, { name: 'x' });
    kit.projection.apply(kit.leaf(sub));
    kit.refuse(sub, 'TX_NONCE_REPLAYED');
    const nonce = kit.projection.nonce(a.key)!;
    kit.refuseTx(a.identity, 'farm.create', a.twin, { name: 'other' }, 'TX_NONCE_REPLAYED', {
      nonce,
    });
    kit.refuseTx(a.identity, 'farm.create', a.twin, { name: 'other' }, 'TX_NONCE_REPLAYED', {
      nonce: 1,
    });
  });

  it('refuses a claimed time far from acceptedAt', () => {
    const { kit, a } = setup();
    kit.refuseTx(a.identity, 'farm.create', a.twin, { name: 'x' }, 'TX_TIME_SKEW', {
      time: kit.now - 3600_000,
    });
  });

  it('refuses oversized submissions and bodies', () => {
    const { kit, a } = setup();
    const huge = kit.submission(a.identity, 'farm.create', a.twin, {
      name: 'x',
      pad: 'p'.repeat(MAX_SUBMISSION_BYTES),
    });
    refuseJson(kit, JSON.stringify(huge), 'TX_TOO_LARGE');
    const big = kit.submission(a.identity, 'farm.create', a.twin, {
      name: 'x',
      pad: 'p'.repeat(MAX_BODY_BYTES),
    });
    refuseJson(kit, JSON.stringify(big), 'TX_BODY_TOO_LARGE');
    kit.refuse(big, 'TX_BODY_TOO_LARGE');
    const many = kit.submission(a.identity, 'contract.create', a.twin, {
      node: 1,
      deploymentHash: '00'.repeat(32),
      deployment: 'A'.repeat(44_000),
      expiresAt: kit.now + 1,
      networks: [],
    });
    kit.refuse(many, 'TX_BODY_INVALID');
  });

  it('refuses malformed JSON', () => {
    const { kit, a } = setup();
    const text = JSON.stringify(kit.submission(a.identity, 'farm.create', a.twin, { name: 'x' }));
    refuseJson(kit, '', 'JSON_MALFORMED');
    refuseJson(kit, '{', 'JSON_MALFORMED');
    refuseJson(kit, text.slice(0, -2), 'JSON_MALFORMED');
    refuseJson(kit, `${text},`, 'JSON_MALFORMED');
    refuseJson(kit, text.replace('"name":"x"', '"name":"x","name":"y"'), 'JSON_DUPLICATE_KEY');
    refuseJson(kit, text.replace('"name":"x"', '"name":"\\ud800"'), 'JSON_LONE_SURROGATE');
    refuseJson(kit, text.replace(/"nonce":\d+/, '"nonce":1e999'), 'JSON_NON_FINITE');
    refuseJson(
      kit,
      Buffer.concat([
        Buffer.from(text.slice(0, 5)),
        Buffer.from([0xc3, 0x28]),
        Buffer.from(text.slice(5)),
      ]),
      'JSON_MALFORMED',
    );
    refuseJson(kit, `{"tx":${'['.repeat(80)}${']'.repeat(80)},"sig":"00"}`, 'JSON_TOO_DEEP');
    refuseJson(kit, 'null', 'TX_MALFORMED');
  });

  it('refuses unknown and ill-typed envelope fields', () => {
    const { kit, a } = setup();
    const tx = kit.tx(a.identity, 'farm.create', a.twin, { name: 'x' });
    kit.refuse(kit.sign(a.identity, { ...tx, extra: true } as typeof tx), 'TX_MALFORMED');
    kit.refuse(
      kit.sign(a.identity, { ...tx, type: 'farm.delete' } as unknown as typeof tx),
      'TX_TYPE_UNKNOWN',
    );
    kit.refuse(kit.sign(a.identity, { ...tx, twin: '1' } as unknown as typeof tx), 'TX_MALFORMED');
    kit.refuse(kit.sign(a.identity, { ...tx, body: { name: 'x', owner: 2 } }), 'TX_BODY_INVALID');
  });
});
