import {
  createCipheriv,
  createDecipheriv,
  createHash,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { fail } from '../core/assert.ts';
import { canonicalBytes } from '../core/canonical-json.ts';
import { publicKeyFromRaw, rawPublicKey } from '../core/keys.ts';
import { verify } from '../core/signing.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import type { Identity } from '../identity/index.ts';
import {
  AEAD_TAG_BYTES,
  ENVELOPE_ID_BYTES,
  type Envelope,
  type EnvelopeHeader,
  envelopeHeader,
  envelopeSigned,
  KIND_PATTERN,
  MAX_PAYLOAD_BYTES,
} from './envelope.ts';

/*
 * Envelope crypto (docs/relay.md): a fresh X25519 key per envelope, ECDH with the
 * recipient's X25519 key, HKDF-SHA256 binding both public keys and the header, AES-256-GCM
 * with the canonical header as associated data; then the sender signs everything under
 * vdc/envelope/v1. Because the key is fresh for every envelope, the 96-bit nonce comes from
 * the same HKDF output and is never reused under one key.
 */

const CIPHER = 'aes-256-gcm';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;

/** The signing key and encryption key a sender or recipient needs: a twin's Identity. */
export type EnvelopeIdentity = Pick<Identity, 'sign' | 'encryptionKey' | 'encryptionPublicKey'>;

function aeadKey(
  shared: Buffer,
  ephemeral: Buffer,
  recipient: Buffer,
  headerBytes: Buffer,
): { key: Buffer; nonce: Buffer } {
  if (shared.every((b) => b === 0))
    fail(
      'ENVELOPE_DECRYPT_FAILED',
      'the X25519 exchange gave the all-zero secret: a low-order key',
    );
  const info = Buffer.concat([
    Buffer.from(SIGNING_TAGS.envelope, 'ascii'),
    Buffer.from([0]),
    createHash('sha256').update(headerBytes).digest(),
  ]);
  const okm = Buffer.from(
    hkdfSync(
      'sha256',
      shared,
      Buffer.concat([ephemeral, recipient]),
      info,
      KEY_BYTES + NONCE_BYTES,
    ),
  );
  return { key: okm.subarray(0, KEY_BYTES), nonce: okm.subarray(KEY_BYTES) };
}

// Parsing a raw key into a KeyObject costs about as much as a verification; twins talk to
// few others, so the last keys used are kept (bounded, oldest dropped first).
const KEY_CACHE_SIZE = 1024;
const keyCache = new Map<string, KeyObject>();

function cachedKey(type: 'ed25519' | 'x25519', raw: Buffer): KeyObject {
  const id = `${type}:${raw.toString('hex')}`;
  let key = keyCache.get(id);
  if (!key) {
    key = publicKeyFromRaw(type, raw);
    if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value as string);
    keyCache.set(id, key);
  }
  return key;
}

function exchange(privateKey: KeyObject, publicRaw: Buffer, cache: boolean): Buffer {
  try {
    const publicKey = cache
      ? cachedKey('x25519', publicRaw)
      : publicKeyFromRaw('x25519', publicRaw);
    return diffieHellman({ privateKey, publicKey });
  } catch (cause) {
    fail('ENVELOPE_DECRYPT_FAILED', 'the X25519 exchange failed: the key is not usable', cause);
  }
}

export interface SealOptions {
  sender: Pick<Identity, 'sign'>;
  from: number;
  /** The recipient's twin id and X25519 public key, from the verified twin directory. */
  to: { id: number; encryptionKey: Buffer };
  kind: string;
  payload: Uint8Array;
  expires: number;
  replyTo?: string | null;
  /** Fixed only by tests; otherwise 16 random bytes. */
  id?: string;
}

/**
 * Encrypts `payload` to the recipient and signs the envelope as `from`.
 * @throws VdcError ENVELOPE_TOO_LARGE, ENVELOPE_MALFORMED (kind), KEY_INVALID
 */
export function sealEnvelope(opts: SealOptions): Envelope {
  if (opts.payload.length > MAX_PAYLOAD_BYTES)
    fail(
      'ENVELOPE_TOO_LARGE',
      `an envelope carries at most ${MAX_PAYLOAD_BYTES} bytes, got ${opts.payload.length}: split the payload`,
    );
  if (!KIND_PATTERN.test(opts.kind))
    fail(
      'ENVELOPE_MALFORMED',
      `envelope kind ${JSON.stringify(opts.kind)} must match ${KIND_PATTERN}`,
    );
  const eph = generateKeyPairSync('x25519');
  const ephemeral = rawPublicKey(eph.publicKey);
  const header: EnvelopeHeader = {
    id: opts.id ?? randomBytes(ENVELOPE_ID_BYTES).toString('hex'),
    from: opts.from,
    to: opts.to.id,
    replyTo: opts.replyTo ?? null,
    expires: opts.expires,
    kind: opts.kind,
    ephemeral: ephemeral.toString('hex'),
  };
  const headerBytes = canonicalBytes(header);
  const shared = exchange(eph.privateKey, opts.to.encryptionKey, true);
  const { key, nonce } = aeadKey(shared, ephemeral, opts.to.encryptionKey, headerBytes);
  const cipher = createCipheriv(CIPHER, key, nonce, { authTagLength: AEAD_TAG_BYTES });
  cipher.setAAD(headerBytes);
  const ciphertext = Buffer.concat([
    cipher.update(opts.payload),
    cipher.final(),
    cipher.getAuthTag(),
  ]);
  const unsigned = { ...header, ciphertext: ciphertext.toString('base64') };
  return {
    ...unsigned,
    signature: opts.sender.sign(SIGNING_TAGS.envelope, unsigned).toString('hex'),
  };
}

/**
 * Whether the envelope's signature verifies under the sender's Ed25519 key.
 * @throws VdcError ENVELOPE_SIGNATURE_INVALID when it does not
 */
export function assertEnvelopeSignature(envelope: Envelope, senderKey: Buffer): void {
  let ok = false;
  try {
    ok = verify(
      SIGNING_TAGS.envelope,
      envelopeSigned(envelope),
      Buffer.from(envelope.signature, 'hex'),
      cachedKey('ed25519', senderKey),
    );
  } catch (cause) {
    fail(
      'ENVELOPE_SIGNATURE_INVALID',
      `envelope ${envelope.id}: its signature cannot be checked`,
      cause,
    );
  }
  if (!ok)
    fail(
      'ENVELOPE_SIGNATURE_INVALID',
      `envelope ${envelope.id} is not signed by twin ${envelope.from}: it was altered or forged`,
    );
}

/**
 * Decrypts the payload with the recipient's X25519 key. Checks nothing else: use
 * EnvelopeReceiver, which verifies the signature, recipient, time and replay first.
 * @throws VdcError ENVELOPE_DECRYPT_FAILED
 */
export function decryptEnvelope(envelope: Envelope, recipient: EnvelopeIdentity): Buffer {
  const headerBytes = canonicalBytes(envelopeHeader(envelope));
  const ephemeral = Buffer.from(envelope.ephemeral, 'hex');
  const shared = exchange(recipient.encryptionKey, ephemeral, false); // ephemeral: never cached
  const { key, nonce } = aeadKey(shared, ephemeral, recipient.encryptionPublicKey, headerBytes);
  const sealed = Buffer.from(envelope.ciphertext, 'base64');
  const decipher = createDecipheriv(CIPHER, key, nonce, { authTagLength: AEAD_TAG_BYTES });
  decipher.setAAD(headerBytes);
  decipher.setAuthTag(sealed.subarray(sealed.length - AEAD_TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(sealed.subarray(0, sealed.length - AEAD_TAG_BYTES)),
      decipher.final(),
    ]);
  } catch (cause) {
    fail(
      'ENVELOPE_DECRYPT_FAILED',
      `envelope ${envelope.id} does not decrypt with this twin's key: it was altered or sealed for another key`,
      cause,
    );
  }
}
