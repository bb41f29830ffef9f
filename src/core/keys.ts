import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { fail } from './assert.ts';

/*
 * Raw 32-byte keys in and out of node:crypto. OpenSSL takes raw Ed25519/X25519 private keys
 * only inside PKCS#8, so the fixed RFC 8410 DER prefix is prepended; public keys come out of
 * the SPKI encoding, whose last 32 bytes are the raw key.
 */

const PKCS8_PREFIX = {
  ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
  x25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
};
const SPKI_PREFIX = {
  ed25519: Buffer.from('302a300506032b6570032100', 'hex'),
  x25519: Buffer.from('302a300506032b656e032100', 'hex'),
};

export type KeyType = keyof typeof PKCS8_PREFIX;

export function privateKeyFromSeed(type: KeyType, seed: Uint8Array): KeyObject {
  if (seed.length !== 32)
    fail('KEY_INVALID', `a ${type} private key is 32 bytes, got ${seed.length}`);
  return createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX[type], seed]),
    format: 'der',
    type: 'pkcs8',
  });
}

/** Raw public key bytes of a private or public KeyObject. */
export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ format: 'der', type: 'spki' }).subarray(-32);
}

/**
 * A public KeyObject from 32 raw bytes.
 * @throws VdcError KEY_INVALID when the bytes are not a valid key of that type
 */
export function publicKeyFromRaw(type: KeyType, raw: Uint8Array): KeyObject {
  if (raw.length !== 32) fail('KEY_INVALID', `a ${type} public key is 32 bytes, got ${raw.length}`);
  try {
    return createPublicKey({
      key: Buffer.concat([SPKI_PREFIX[type], raw]),
      format: 'der',
      type: 'spki',
    });
  } catch (cause) {
    fail('KEY_INVALID', `the 32 bytes given are not a valid ${type} public key`, cause);
  }
}
