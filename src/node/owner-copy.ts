import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { assertExactKeys, assertInteger, assertObject, fail } from '../core/assert.ts';
import { canonicalBytes } from '../core/canonical-json.ts';
import { KEY_LABELS } from '../core/key-derivation.ts';
import { parseJson } from '../core/strict-json.ts';
import type { Identity } from '../identity/index.ts';
import {
  deploymentHash,
  MAX_ID,
  parseDeployment,
  type UnsignedDeployment,
} from './deployment-document.ts';

/*
 * The owner's copy of a deployment (DESIGN §7, P7; docs/deploy.md): what a contract's
 * `deployment` field holds, so the owner can rebuild from the ledger alone. It keeps the
 * exact document the contract's hash covers (with its secrets sealed to the node) and the
 * secrets' plaintext, so a heal can seal them again to another node. Encrypted under a key
 * derived from the owner's `vdc/secrets/0` key; the ledger, the relay and the node see only
 * ciphertext.
 *
 * Format (then base64; at most 32,768 bytes, the ledger's limit for the field):
 *   0      1   version, 0x01
 *   1      32  random salt
 *   33     n   AES-256-GCM ciphertext of deflate-raw(canonical JSON of the copy)
 *   33+n   16  GCM tag
 * key (32) and nonce (12) = HKDF-SHA256(ikm = the owner's vdc/secrets/0 key, salt,
 * info = "vdc/deployment-owner/v1" 0x00 SHA-256(aad)); aad = the 33-byte header followed by
 * canonical {v, twin, node, hash}: a copy moved to another contract (another hash, node or
 * twin) does not open. Compressing before encrypting leaks nothing here: only the owner
 * writes what is compressed.
 */

export const OWNER_COPY_LABEL = 'vdc/deployment-owner/v1';
export const OWNER_COPY_VERSION = 1;
/** The ledger's bound on a contract's `deployment` (raw bytes; src/ledger/rules/contract.ts). */
export const MAX_OWNER_COPY_BYTES = 32_768;
/** Bound on what a copy inflates to, so a crafted copy cannot exhaust memory. */
const MAX_INFLATED_BYTES = 4 * 2 ** 20;
const HEADER_BYTES = 33;
const TAG_BYTES = 16;

export interface OwnerCopy {
  /** the node the deployment was made for */
  node: number;
  /** the document whose hash the contract carries, secrets sealed to that node */
  deployment: UnsignedDeployment;
  /** per workload, per secret NAME: the plaintext, base64 */
  secrets: Record<string, Record<string, string>>;
}

/** What the contract says about the copy: its owner, its node and the hash. */
export interface OwnerCopyTarget {
  twin: number;
  node: number;
  deploymentHash: string;
}

type OwnerKey = Pick<Identity, 'derive'>;

function aeadKey(owner: OwnerKey, header: Buffer, target: OwnerCopyTarget) {
  const aad = Buffer.concat([
    header,
    canonicalBytes({
      v: OWNER_COPY_VERSION,
      twin: target.twin,
      node: target.node,
      hash: target.deploymentHash,
    }),
  ]);
  const info = Buffer.concat([
    Buffer.from(OWNER_COPY_LABEL, 'ascii'),
    Buffer.from([0]),
    createHash('sha256').update(aad).digest(),
  ]);
  const salt = header.subarray(1, HEADER_BYTES);
  const okm = Buffer.from(hkdfSync('sha256', owner.derive(KEY_LABELS.secrets), salt, info, 44));
  return { key: okm.subarray(0, 32), nonce: okm.subarray(32), aad };
}

/**
 * Encrypts the owner's copy under the owner's secrets key; returns base64 for the contract.
 * @throws VdcError OWNER_COPY_TOO_LARGE when it does not fit the ledger's 32 KiB
 */
export function sealForOwner(copy: OwnerCopy, owner: OwnerKey): string {
  const target = {
    twin: copy.deployment.twin,
    node: copy.node,
    deploymentHash: deploymentHash(copy.deployment),
  };
  const header = Buffer.concat([Buffer.from([OWNER_COPY_VERSION]), randomBytes(32)]);
  const { key, nonce, aad } = aeadKey(owner, header, target);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const packed = deflateRawSync(canonicalBytes(copy as never), { level: 9 });
  const sealed = Buffer.concat([
    header,
    cipher.update(packed),
    cipher.final(),
    cipher.getAuthTag(),
  ]);
  if (sealed.length > MAX_OWNER_COPY_BYTES)
    fail(
      'OWNER_COPY_TOO_LARGE',
      `the deployment's encrypted copy for its owner is ${sealed.length} bytes; a contract holds at most ${MAX_OWNER_COPY_BYTES}: use fewer or smaller workloads and secrets`,
    );
  return sealed.toString('base64');
}

/**
 * Opens the owner's copy held by a contract, with the owner's identity.
 * @throws VdcError OWNER_COPY_MALFORMED, OWNER_COPY_OPEN_FAILED (another owner's key, another
 *   contract's copy, or altered)
 */
export function openForOwner(sealed: string, owner: OwnerKey, target: OwnerCopyTarget): OwnerCopy {
  const bytes = Buffer.from(typeof sealed === 'string' ? sealed : '', 'base64');
  if (bytes.length < HEADER_BYTES + TAG_BYTES)
    fail(
      'OWNER_COPY_MALFORMED',
      `the contract's deployment copy is ${bytes.length} bytes: too short`,
    );
  if (bytes[0] !== OWNER_COPY_VERSION)
    fail(
      'OWNER_COPY_MALFORMED',
      `the contract's deployment copy is in format version ${bytes[0]}; this tool reads ${OWNER_COPY_VERSION}`,
    );
  const { key, nonce, aad } = aeadKey(owner, bytes.subarray(0, HEADER_BYTES), target);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  let packed: Buffer;
  try {
    packed = Buffer.concat([
      decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch (cause) {
    fail(
      'OWNER_COPY_OPEN_FAILED',
      `the contract's deployment copy does not open with your secrets key: it belongs to another identity or contract, or was altered`,
      cause,
    );
  }
  try {
    return checkCopy(
      parseJson(inflateRawSync(packed, { maxOutputLength: MAX_INFLATED_BYTES })),
      target,
    );
  } catch (cause) {
    fail(
      'OWNER_COPY_MALFORMED',
      `the contract's deployment copy opened but does not hold a deployment: ${(cause as Error).message}`,
      cause,
    );
  }
}

function checkCopy(value: unknown, target: OwnerCopyTarget): OwnerCopy {
  assertObject(value, 'copy');
  assertExactKeys(value, 'copy', ['node', 'deployment', 'secrets']);
  assertInteger(value['node'], 'copy.node', 1, MAX_ID);
  assertObject(value['deployment'], 'copy.deployment');
  const zero = (n: number) => '0'.repeat(n);
  // parseDeployment checks a signed document; a placeholder signature lets it check the rest.
  const { signature: _, ...deployment } = parseDeployment({
    ...value['deployment'],
    signature: { signer: zero(64), ledger: zero(64), node: 1, contract: 1, sig: zero(128) },
  });
  assertObject(value['secrets'], 'copy.secrets');
  for (const [w, s] of Object.entries(value['secrets'])) {
    assertObject(s, `copy.secrets.${w}`);
    for (const [k, v] of Object.entries(s))
      if (typeof v !== 'string') fail('INPUT_INVALID', `'copy.secrets.${w}.${k}' is not a string`);
  }
  if (
    deploymentHash(deployment) !== target.deploymentHash ||
    deployment.twin !== target.twin ||
    value['node'] !== target.node
  )
    fail('INPUT_INVALID', 'it holds another deployment than the contract names');
  return value as unknown as OwnerCopy;
}
