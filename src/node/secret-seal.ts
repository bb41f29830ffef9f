import {
  createCipheriv,
  createDecipheriv,
  createHash,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';
import { assertInteger, assertString, fail } from '../core/assert.ts';
import { canonicalBytes } from '../core/canonical-json.ts';
import { fromHex, toHex } from '../core/hex.ts';
import { publicKeyFromRaw, rawPublicKey } from '../core/keys.ts';
import type { Identity } from '../identity/index.ts';
import { MAX_ID } from './deployment-document.ts';

/*
 * Secrets sealed to one node (DESIGN §7: "secrets decrypted on the node only"; docs/deploy.md).
 * A container's `secrets` map holds, per NAME, the value encrypted to the node's X25519 key:
 * a fresh ephemeral X25519 key per value, ECDH, HKDF-SHA256, AES-256-GCM. The associated data
 * binds the value to what it is for: the node's key, the owning twin, the workload and the
 * secret's name. So a sealed value opens only on that node, only as that secret of that
 * workload of that twin: moved to another name, workload, twin or node it is refused.
 *
 * The contract id is not bound: the contract carries the hash of the document that holds
 * the sealed values, so they are made before the contract exists.
 *
 * Uses: a container's secret (the default, `use` absent) or the private key of the TLS
 * certificate a `gateway` workload presents for its name (`use: "gateway-tls-key"`, the
 * context's `name` then being the DNS name it serves; docs/node-gateway.md). A use other
 * than the default is part of the bound context, so a value sealed for one use never opens
 * as the other: a TLS key cannot be moved into a container's environment, nor a secret
 * presented as a key. The default's context bytes are those of the first version, so
 * values sealed before uses existed still open.
 *
 * Format (then base64):
 *   0      1   version, 0x01
 *   1      8   first 8 bytes of SHA-256(node X25519 public key)      (tells "other node" apart)
 *   9      8   first 8 bytes of SHA-256(canonical {twin, workload, name}) (tells "other use" apart)
 *   17     4   plaintext length, big-endian                           (tells "truncated" apart)
 *   21     32  ephemeral X25519 public key
 *   53     n   AES-256-GCM ciphertext
 *   53+n   16  GCM tag
 * The two 8-byte ids only name the failure early; the AEAD is what refuses: its associated
 * data is the 53-byte header followed by canonical {v, node, twin, workload, name}. The key
 * and the 96-bit nonce both come from HKDF over a key used once, so no nonce is ever reused.
 */

export const SECRET_SEAL_LABEL = 'vdc/secret-seal/v1';
export const SECRET_SEAL_VERSION = 1;
/** Plaintext bytes per secret; sealed and in base64 this stays under the spec's 65,536 characters. */
export const MAX_SECRET_BYTES = 32 * 1024;
const HEADER_BYTES = 53;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const WORKLOAD = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** A DNS label: the name a gateway workload serves. */
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** What a sealed value is: a container's secret (the default) or a gateway workload's TLS key. */
export type SecretUse = 'container-secret' | 'gateway-tls-key';

/** What a sealed value is for. */
export interface SecretContext {
  /** the twin owning the deployment */
  twin: number;
  /** the workload's name in the deployment */
  workload: string;
  /** the secret's NAME in the workload's `secrets`; for a TLS key, the name served */
  name: string;
  /** default `container-secret` */
  use?: SecretUse;
}

/** The context of a gateway workload's TLS key: `name` is the DNS name it serves. */
export function tlsKeyContext(twin: number, workload: string, name: string): SecretContext {
  return { twin, workload, name, use: 'gateway-tls-key' };
}

/** The node side: its X25519 key pair (a node's Identity). */
export type SecretOpener = Pick<Identity, 'encryptionKey' | 'encryptionPublicKey'>;

function checkContext(c: SecretContext): void {
  assertInteger(c.twin, 'secret context.twin', 1, MAX_ID);
  assertString(c.workload, 'secret context.workload', { pattern: WORKLOAD });
  if (c.use !== undefined && c.use !== 'container-secret' && c.use !== 'gateway-tls-key')
    fail('INPUT_INVALID', `'secret context.use' is not a known use: ${JSON.stringify(c.use)}`);
  const tls = c.use === 'gateway-tls-key';
  assertString(c.name, 'secret context.name', { pattern: tls ? DNS_LABEL : SECRET_NAME });
}

/** The bound fields: a non-default use is one of them; the default's bytes stay version 1's. */
function bound(c: SecretContext): { twin: number; workload: string; name: string; use?: string } {
  const base = { twin: c.twin, workload: c.workload, name: c.name };
  return c.use === undefined || c.use === 'container-secret' ? base : { ...base, use: c.use };
}

function describe(c: SecretContext): string {
  return c.use === 'gateway-tls-key'
    ? `the TLS key of gateway workload ${c.workload} (name ${c.name})`
    : `secret ${c.name} of workload ${c.workload}`;
}

const short = (data: Uint8Array): Buffer =>
  createHash('sha256').update(data).digest().subarray(0, 8);

function contextId(c: SecretContext): Buffer {
  return short(canonicalBytes(bound(c)));
}

function associatedData(header: Buffer, nodeKey: Buffer, c: SecretContext): Buffer {
  const context = { v: SECRET_SEAL_VERSION, node: toHex(nodeKey), ...bound(c) };
  return Buffer.concat([header, canonicalBytes(context)]);
}

function keyAndNonce(
  shared: Buffer,
  ephemeral: Buffer,
  nodeKey: Buffer,
  aad: Buffer,
): { key: Buffer; nonce: Buffer } {
  const info = Buffer.concat([
    Buffer.from(SECRET_SEAL_LABEL, 'ascii'),
    Buffer.from([0]),
    createHash('sha256').update(aad).digest(),
  ]);
  const okm = Buffer.from(
    hkdfSync('sha256', shared, Buffer.concat([ephemeral, nodeKey]), info, KEY_BYTES + NONCE_BYTES),
  );
  return { key: okm.subarray(0, KEY_BYTES), nonce: okm.subarray(KEY_BYTES) };
}

function exchange(privateKey: KeyObject, publicRaw: Buffer, onFail: () => never): Buffer {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey: publicKeyFromRaw('x25519', publicRaw) });
  } catch {
    onFail();
  }
  // A low-order public key gives the all-zero secret, which anyone can compute.
  if (shared.every((b) => b === 0)) onFail();
  return shared;
}

function nodeKeyBytes(key: string | Uint8Array): Buffer {
  return typeof key === 'string'
    ? fromHex(key, 'node encryption key', 32, 'KEY_INVALID')
    : Buffer.from(key);
}

/**
 * Seals one secret to a node's X25519 key, for one use (`context`); returns base64.
 * @throws VdcError SECRET_TOO_LARGE; KEY_INVALID when the node key is not a usable X25519 key;
 *   INPUT_INVALID when the context is malformed
 */
export function sealSecret(
  plaintext: Uint8Array | string,
  nodeEncryptionKey: string | Uint8Array,
  context: SecretContext,
): string {
  checkContext(context);
  const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  if (data.length > MAX_SECRET_BYTES)
    fail(
      'SECRET_TOO_LARGE',
      `${describe(context)} is ${data.length} bytes; at most ${MAX_SECRET_BYTES}: keep large data in storage and put its key here`,
    );
  const nodeKey = nodeKeyBytes(nodeEncryptionKey);
  const eph = generateKeyPairSync('x25519');
  const ephemeral = rawPublicKey(eph.publicKey);
  const shared = exchange(eph.privateKey, nodeKey, () =>
    fail('KEY_INVALID', 'the node encryption key is not a usable X25519 public key'),
  );
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const header = Buffer.concat([
    Buffer.from([SECRET_SEAL_VERSION]),
    short(nodeKey),
    contextId(context),
    length,
    ephemeral,
  ]);
  const aad = associatedData(header, nodeKey, context);
  const { key, nonce } = keyAndNonce(shared, ephemeral, nodeKey, aad);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  return Buffer.concat([header, cipher.update(data), cipher.final(), cipher.getAuthTag()]).toString(
    'base64',
  );
}

/**
 * Reads a sealed value's header and tells whether it was sealed to this node key for this
 * use, without opening it: what a node can check before anything changes (its deployment
 * checks hold its public key, not its private one). Only the AEAD, in openSecret, proves
 * the value was not altered.
 * @throws VdcError SECRET_SEAL_MALFORMED, SECRET_SEAL_VERSION_UNKNOWN,
 *   SECRET_SEALED_FOR_OTHER_NODE, SECRET_SEALED_FOR_OTHER_USE
 * @returns the decoded bytes
 */
export function checkSealedFor(
  sealed: string,
  nodeEncryptionKey: string | Uint8Array,
  context: SecretContext,
): Buffer {
  checkContext(context);
  const what = describe(context);
  if (typeof sealed !== 'string' || !BASE64.test(sealed))
    fail('SECRET_SEAL_MALFORMED', `${what} is not base64: it must be a value sealed to the node`);
  const bytes = Buffer.from(sealed, 'base64');
  if (bytes.length < HEADER_BYTES + TAG_BYTES)
    fail(
      'SECRET_SEAL_MALFORMED',
      `${what} is ${bytes.length} bytes, shorter than any sealed value (${HEADER_BYTES + TAG_BYTES}): it was truncated`,
    );
  if (bytes[0] !== SECRET_SEAL_VERSION)
    fail(
      'SECRET_SEAL_VERSION_UNKNOWN',
      `${what} is sealed in format version ${bytes[0]}; this node opens version ${SECRET_SEAL_VERSION}`,
    );
  if (!bytes.subarray(1, 9).equals(short(nodeKeyBytes(nodeEncryptionKey))))
    fail(
      'SECRET_SEALED_FOR_OTHER_NODE',
      `${what} was sealed to another node's key: seal it to this node's encryption key (vdc deploy does)`,
    );
  if (!bytes.subarray(9, 17).equals(contextId(context)))
    fail(
      'SECRET_SEALED_FOR_OTHER_USE',
      `${what} was sealed for another secret, workload, twin or use: a sealed value cannot be moved`,
    );
  const length = bytes.readUInt32BE(17);
  if (bytes.length !== HEADER_BYTES + length + TAG_BYTES)
    fail(
      'SECRET_SEAL_MALFORMED',
      `${what} holds ${bytes.length - HEADER_BYTES - TAG_BYTES} ciphertext bytes but was sealed with ${length}: it was truncated or extended`,
    );
  return bytes;
}

/**
 * Opens a sealed secret with the node's key, for the use it was sealed for.
 * @throws VdcError SECRET_SEAL_MALFORMED (not base64, truncated or extended),
 *   SECRET_SEAL_VERSION_UNKNOWN, SECRET_SEALED_FOR_OTHER_NODE, SECRET_SEALED_FOR_OTHER_USE
 *   (another twin, workload, name or use), SECRET_SEAL_TAMPERED (any byte altered)
 */
export function openSecret(sealed: string, node: SecretOpener, context: SecretContext): Buffer {
  const bytes = checkSealedFor(sealed, node.encryptionPublicKey, context);
  const what = describe(context);
  const nodeKey = node.encryptionPublicKey;
  const header = bytes.subarray(0, HEADER_BYTES);
  const ephemeral = bytes.subarray(21, HEADER_BYTES);
  const tampered = (): never =>
    fail('SECRET_SEAL_TAMPERED', `${what} does not open with this node's key: it was altered`);
  const shared = exchange(node.encryptionKey, ephemeral, tampered);
  const aad = associatedData(header, nodeKey, context);
  const { key, nonce } = keyAndNonce(shared, ephemeral, nodeKey, aad);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    return tampered();
  }
}

/**
 * Seals every secret of one workload (the user's side).
 * @throws VdcError as sealSecret
 */
export function sealWorkloadSecrets(
  secrets: Record<string, Uint8Array | string>,
  nodeEncryptionKey: string | Uint8Array,
  owner: { twin: number; workload: string },
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(secrets))
    out[name] = sealSecret(value, nodeEncryptionKey, { ...owner, name });
  return out;
}

/**
 * Opens every secret of one workload (the node's side, for its runtime).
 * @throws VdcError as openSecret, for the first secret that does not open
 */
export function openWorkloadSecrets(
  sealed: Record<string, string>,
  node: SecretOpener,
  owner: { twin: number; workload: string },
): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(sealed))
    out[name] = openSecret(value, node, { ...owner, name });
  return out;
}
