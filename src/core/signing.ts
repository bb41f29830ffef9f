import { sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import { fail } from './assert.ts';
import { canonicalBytes } from './canonical-json.ts';
import { toHex } from './hex.ts';
import { publicKeyFromRaw } from './keys.ts';
import { assertTag } from './signing-tags.ts';

export const SIGNATURE_BYTES = 64;

/** The exact bytes a signature covers: `tag || 0x00 || canonical(payload)`. */
export function signedMessage(tag: string, payload: unknown): Buffer {
  assertTag(tag);
  return Buffer.concat([Buffer.from(tag, 'ascii'), Buffer.from([0]), canonicalBytes(payload)]);
}

/**
 * Ed25519 signature over `tag || 0x00 || canonical(payload)`.
 * @throws VdcError TAG_INVALID, or a JSON_* code when the payload has no canonical form
 */
export function sign(tag: string, payload: unknown, privateKey: KeyObject): Buffer {
  return edSign(null, signedMessage(tag, payload), privateKey);
}

/**
 * Whether `signature` is a valid signature of `payload` under `tag` by `publicKey` (32 raw
 * bytes). A malformed signature or key is an error, not `false`, so callers can say which.
 * @throws VdcError SIGNATURE_MALFORMED, KEY_INVALID, TAG_INVALID
 */
export function verify(
  tag: string,
  payload: unknown,
  signature: Uint8Array,
  publicKey: Uint8Array | KeyObject,
): boolean {
  if (signature.length !== SIGNATURE_BYTES)
    fail(
      'SIGNATURE_MALFORMED',
      `an Ed25519 signature is ${SIGNATURE_BYTES} bytes, got ${signature.length}`,
    );
  const key = publicKey instanceof Uint8Array ? publicKeyFromRaw('ed25519', publicKey) : publicKey;
  return edVerify(null, signedMessage(tag, payload), key, signature);
}

/**
 * Like verify, but throws when the signature does not hold.
 * @throws VdcError SIGNATURE_INVALID, SIGNATURE_MALFORMED, KEY_INVALID, TAG_INVALID
 */
export function assertSignature(
  tag: string,
  payload: unknown,
  signature: Uint8Array,
  publicKey: Uint8Array,
  what = 'payload',
): void {
  if (!verify(tag, payload, signature, publicKey)) {
    fail(
      'SIGNATURE_INVALID',
      `the signature over this ${what} does not verify under tag ${tag} and key ${toHex(publicKey)}: it was made over other bytes, for another purpose, or by another key`,
    );
  }
}
