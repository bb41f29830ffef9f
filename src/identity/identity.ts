import type { KeyObject } from 'node:crypto';
import { fail } from '../core/assert.ts';
import { deriveKey, KEY_LABELS, type KeyLabel, SEED_BYTES } from '../core/key-derivation.ts';
import { privateKeyFromSeed, rawPublicKey } from '../core/keys.ts';
import { sign } from '../core/signing.ts';
import { assertUserTag } from '../core/signing-tags.ts';

/**
 * A user's keys, all derived from the seed: an Ed25519 key that signs and an X25519 key
 * that others encrypt to. Other purposes get their own key through `derive`.
 */
export class Identity {
  readonly signingPublicKey: Buffer;
  readonly encryptionPublicKey: Buffer;
  readonly #seed: Buffer;
  readonly #signingKey: KeyObject;
  readonly #encryptionKey: KeyObject;

  private constructor(seed: Buffer) {
    this.#seed = seed;
    this.#signingKey = privateKeyFromSeed('ed25519', deriveKey(seed, KEY_LABELS.signing));
    this.#encryptionKey = privateKeyFromSeed('x25519', deriveKey(seed, KEY_LABELS.encryption));
    this.signingPublicKey = rawPublicKey(this.#signingKey);
    this.encryptionPublicKey = rawPublicKey(this.#encryptionKey);
  }

  /** @throws VdcError KEY_INVALID when the seed is not 64 bytes */
  static fromSeed(seed: Uint8Array): Identity {
    if (seed.length !== SEED_BYTES)
      fail('KEY_INVALID', `a seed is ${SEED_BYTES} bytes, got ${seed.length}`);
    return new Identity(Buffer.from(seed));
  }

  /** Signs for one of VDC's own purposes (a `vdc/…` tag). */
  sign(tag: string, payload: unknown): Buffer {
    return sign(tag, payload, this.#signingKey);
  }

  /** Signs for the user's own purposes; refuses VDC's reserved tags so it is never an oracle for them. */
  signUserMessage(tag: string, payload: unknown): Buffer {
    assertUserTag(tag);
    return sign(tag, payload, this.#signingKey);
  }

  /** The X25519 private key, for decrypting what was encrypted to this identity. */
  get encryptionKey(): KeyObject {
    return this.#encryptionKey;
  }

  /** 32 bytes for one purpose (DESIGN §4); see docs/identity.md. */
  derive(label: KeyLabel): Buffer {
    return deriveKey(this.#seed, label);
  }
}
