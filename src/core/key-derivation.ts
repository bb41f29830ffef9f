import { hkdfSync } from 'node:crypto';
import { fail } from './assert.ts';

/*
 * Every key of a user comes from the BIP-39 seed by HKDF-SHA256 (RFC 5869) with an empty
 * salt and its own `info` label: one label, one purpose. Labels end in a version so a key
 * can be rotated by a new label without touching the others. Vectors: docs/identity.md.
 */

export const KEY_LABELS = {
  signing: 'vdc/ed25519/0',
  encryption: 'vdc/x25519/0',
  zstorData: 'vdc/zstor-data/0',
  zstorMeta: 'vdc/zstor-meta/0',
  secrets: 'vdc/secrets/0',
  s3: 'vdc/s3/0',
} as const;

export type KeyLabel = (typeof KEY_LABELS)[keyof typeof KEY_LABELS] | `vdc/zdb-password/${number}`;

export const SEED_BYTES = 64;
export const DERIVED_KEY_BYTES = 32;

const FIXED_LABELS = new Set<string>(Object.values(KEY_LABELS));
const ZDB_PASSWORD_LABEL = /^vdc\/zdb-password\/(0|[1-9][0-9]{0,15})$/;

/** The label of the password of the zdb namespace made for one contract. */
export function zdbPasswordLabel(contractId: number): KeyLabel {
  if (!Number.isSafeInteger(contractId) || contractId < 0)
    fail('INPUT_INVALID', `'contract id' must be a non-negative integer, got ${contractId}`);
  return `vdc/zdb-password/${contractId}`;
}

/**
 * 32 bytes for one purpose, derived from the 64-byte seed.
 * @throws VdcError KEY_INVALID when the seed is not 64 bytes or the label is not a VDC key label
 */
export function deriveKey(seed: Uint8Array, label: KeyLabel): Buffer {
  if (seed.length !== SEED_BYTES)
    fail('KEY_INVALID', `a seed is ${SEED_BYTES} bytes, got ${seed.length}`);
  if (!FIXED_LABELS.has(label) && !ZDB_PASSWORD_LABEL.test(label))
    fail('KEY_INVALID', `${JSON.stringify(label)} is not a VDC key label; see docs/identity.md`);
  return Buffer.from(
    hkdfSync('sha256', seed, Buffer.alloc(0), Buffer.from(label, 'utf8'), DERIVED_KEY_BYTES),
  );
}
