import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ErrorCode } from '../core/error-codes.ts';
import { VdcError } from '../core/errors.ts';
import { toHex } from '../core/hex.ts';
import { MAX_BODY_BYTES, MAX_SUBMISSION_BYTES } from './tx-format.ts';
import { parseLeaf, parseSubmission, parseSubmissionJson, parseTransaction } from './tx-parse.ts';
import { newIdentity, TxKit } from './tx-test-kit.ts';

function throwsCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(
    fn,
    (err: unknown) => err instanceof VdcError && err.code === code && /\S/.test(err.message),
  );
}

function sample() {
  const kit = new TxKit();
  const id = newIdentity();
  const sub = kit.submission(id, 'twin.create', 0, {
    encryptionKey: toHex(id.encryptionPublicKey),
    relays: [],
  });
  return { kit, id, sub };
}

describe('parseTransaction', () => {
  it('accepts a well-formed transaction and keeps the raw value for the signature', () => {
    const { sub } = sample();
    const { tx, raw } = parseTransaction(sub.tx);
    assert.equal(raw, sub.tx);
    assert.deepEqual(tx, sub.tx);
  });

  it('takes an optional time', () => {
    const { kit, id } = sample();
    const tx = kit.tx(id, 'farm.create', 1, { name: 'x' }, { time: 5 });
    assert.equal(parseTransaction(tx).tx.time, 5);
  });

  it('refuses unknown fields, missing fields, and wrong types, naming the field', () => {
    const { sub } = sample();
    throwsCode(() => parseTransaction({ ...sub.tx, extra: 1 }), 'TX_MALFORMED');
    const { nonce: _n, ...noNonce } = sub.tx;
    throwsCode(() => parseTransaction(noNonce), 'TX_MALFORMED');
    throwsCode(() => parseTransaction({ ...sub.tx, nonce: 0 }), 'TX_MALFORMED');
    throwsCode(() => parseTransaction({ ...sub.tx, nonce: 1.5 }), 'TX_MALFORMED');
    throwsCode(
      () => parseTransaction({ ...sub.tx, signer: sub.tx.signer.toUpperCase() }),
      'TX_MALFORMED',
    );
    throwsCode(() => parseTransaction({ ...sub.tx, ledger: 'ab' }), 'TX_MALFORMED');
    throwsCode(() => parseTransaction({ ...sub.tx, time: -1 }), 'TX_MALFORMED');
    throwsCode(() => parseTransaction({ ...sub.tx, body: [] }), 'TX_MALFORMED');
    throwsCode(() => parseTransaction([]), 'TX_MALFORMED');
    const err = (() => {
      try {
        parseTransaction({ ...sub.tx, nonce: 'one' });
      } catch (e) {
        return e as VdcError;
      }
    })();
    assert.match(err!.message, /tx\.nonce/);
  });

  it('refuses an unknown type and a twin field that does not fit the type', () => {
    const { sub } = sample();
    throwsCode(() => parseTransaction({ ...sub.tx, type: 'twin.delete' }), 'TX_TYPE_UNKNOWN');
    throwsCode(
      () => parseTransaction({ ...sub.tx, type: 'farm.create', twin: 0, body: { name: 'x' } }),
      'TX_MALFORMED',
    );
  });

  it('refuses a body above the limit before parsing it', () => {
    const { sub } = sample();
    const body = { encryptionKey: 'a'.repeat(MAX_BODY_BYTES), relays: [] };
    throwsCode(() => parseTransaction({ ...sub.tx, body }), 'TX_BODY_TOO_LARGE');
  });
});

describe('parseSubmission', () => {
  it('accepts {tx, sig}', () => {
    const { sub } = sample();
    assert.equal(parseSubmission(sub).sig, sub.sig);
  });

  it('names a missing, null or empty signature as unsigned', () => {
    const { sub } = sample();
    throwsCode(() => parseSubmission({ tx: sub.tx }), 'TX_UNSIGNED');
    throwsCode(() => parseSubmission({ tx: sub.tx, sig: null }), 'TX_UNSIGNED');
    throwsCode(() => parseSubmission({ tx: sub.tx, sig: '' }), 'TX_UNSIGNED');
    throwsCode(() => parseSubmission({ tx: sub.tx, sig: 'ab' }), 'TX_MALFORMED');
    throwsCode(() => parseSubmission({ tx: sub.tx, sig: sub.sig, more: 1 }), 'TX_MALFORMED');
    throwsCode(() => parseSubmission({ sig: sub.sig }), 'TX_MALFORMED');
  });
});

describe('parseSubmissionJson', () => {
  it('parses JSON text and bytes', () => {
    const { sub } = sample();
    assert.equal(parseSubmissionJson(JSON.stringify(sub)).sig, sub.sig);
    assert.equal(parseSubmissionJson(Buffer.from(JSON.stringify(sub))).sig, sub.sig);
  });

  it('refuses more than the submission limit before parsing', () => {
    throwsCode(() => parseSubmissionJson(' '.repeat(MAX_SUBMISSION_BYTES + 1)), 'TX_TOO_LARGE');
  });

  it('refuses malformed JSON with the strict parser codes', () => {
    const { sub } = sample();
    const text = JSON.stringify(sub);
    throwsCode(() => parseSubmissionJson(text.slice(0, -1)), 'JSON_MALFORMED');
    throwsCode(() => parseSubmissionJson(`${text}x`), 'JSON_MALFORMED');
    throwsCode(
      () => parseSubmissionJson(text.replace('{"tx"', `{"sig":"${sub.sig}","tx"`)),
      'JSON_DUPLICATE_KEY',
    );
    throwsCode(() => parseSubmissionJson(new Uint8Array([0x7b, 0xff, 0x7d])), 'JSON_MALFORMED');
    throwsCode(() => parseSubmissionJson('['.repeat(100) + ']'.repeat(100)), 'JSON_TOO_DEEP');
    throwsCode(() => parseSubmissionJson('"just a string"'), 'TX_MALFORMED');
  });
});

describe('parseLeaf', () => {
  it('checks seq and acceptedAt, then the submission', () => {
    const { sub } = sample();
    assert.equal(parseLeaf({ seq: 0, acceptedAt: 1, ...sub }).seq, 0);
    throwsCode(() => parseLeaf({ seq: -1, acceptedAt: 1, ...sub }), 'TX_LEAF_MALFORMED');
    throwsCode(() => parseLeaf({ seq: 0, acceptedAt: 1, ...sub, x: 1 }), 'TX_LEAF_MALFORMED');
    throwsCode(() => parseLeaf({ seq: 0, acceptedAt: 1, tx: sub.tx, sig: '' }), 'TX_UNSIGNED');
  });
});
