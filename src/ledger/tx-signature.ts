import { verify as edVerify, type KeyObject } from 'node:crypto';
import { fail } from '../core/assert.ts';
import { canonicalBytes } from '../core/canonical-json.ts';
import { publicKeyFromRaw } from '../core/keys.ts';
import { SIGNATURE_BYTES } from '../core/signing.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import type { Transaction } from './tx-format.ts';

/*
 * A transaction's signature is Ed25519 by `tx.signer` over `vdc/tx/v1 || 0x00 ||
 * canonical(tx)` (the message core/signing.ts defines). When it does not verify, the other
 * VDC tags and a bare signature over the canonical JSON are tried, so a signature made for
 * another purpose is reported as such (TX_WRONG_TAG) rather than as garbage: that is a
 * client bug worth naming. The canonical bytes and the key are computed once, so a refusal
 * costs a few extra Ed25519 verifications and no more (a bounded price for a clear answer).
 */

const OTHER_TAGS = Object.values(SIGNING_TAGS).filter((tag) => tag !== SIGNING_TAGS.tx);

function message(tag: string | null, body: Buffer): Buffer {
  return tag === null ? body : Buffer.concat([Buffer.from(tag, 'ascii'), Buffer.from([0]), body]);
}

/**
 * Checks that `sigHex` is `raw.signer`'s signature of `raw` under vdc/tx/v1.
 * @throws VdcError TX_WRONG_TAG when the signature is the signer's but made for another
 *   purpose, TX_SIGNATURE_INVALID otherwise (also for a signer that is not a valid key)
 */
export function assertTxSignature(raw: Transaction, sigHex: string): void {
  const sig = Buffer.from(sigHex, 'hex');
  let key: KeyObject;
  try {
    key = publicKeyFromRaw('ed25519', Buffer.from(raw.signer, 'hex'));
  } catch (cause) {
    fail(
      'TX_SIGNATURE_INVALID',
      `'tx.signer' ${raw.signer} is not an Ed25519 public key, so nothing it signs verifies`,
      cause,
    );
  }
  const body = canonicalBytes(raw);
  if (sig.length === SIGNATURE_BYTES && edVerify(null, message(SIGNING_TAGS.tx, body), key, sig))
    return;
  for (const tag of [...OTHER_TAGS, null]) {
    if (sig.length === SIGNATURE_BYTES && edVerify(null, message(tag, body), key, sig))
      fail(
        'TX_WRONG_TAG',
        `the signature is by ${raw.signer} but ${tag === null ? 'over the bare canonical JSON' : `under tag ${tag}`}: transactions are signed under ${SIGNING_TAGS.tx}`,
      );
  }
  fail(
    'TX_SIGNATURE_INVALID',
    `the signature does not verify under ${SIGNING_TAGS.tx} and key ${raw.signer}: it was made over other bytes or by another key; sign the transaction exactly as sent`,
  );
}
