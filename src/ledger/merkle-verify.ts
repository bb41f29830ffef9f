import { timingSafeEqual } from 'node:crypto';
import { assertExactKeys, assertObject, fail } from '../core/assert.ts';
import { fromHex, toHex } from '../core/hex.ts';
import { EMPTY_ROOT, HASH_BYTES, hashChildren } from './merkle-hash.ts';
import type { ConsistencyProof, InclusionProof } from './merkle-proof.ts';

/*
 * Proof verification exactly as RFC 9162 §2.1.3.2 and §2.1.4.2 give it, over proofs that
 * arrive as JSON from a server we do not trust: every field is checked before use.
 */

// A tree of 2^53 leaves has paths of at most 53 hashes (consistency: one more).
const MAX_PATH = 64;

function isOdd(n: number): boolean {
  return n % 2 === 1;
}

function isPowerOfTwo(n: number): boolean {
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function parsePath(value: unknown, label: string): Buffer[] {
  if (!Array.isArray(value) || value.length > MAX_PATH)
    fail('PROOF_MALFORMED', `'${label}.path' must be an array of at most ${MAX_PATH} hashes`);
  return value.map((h, i) => fromHex(h, `${label}.path[${i}]`, HASH_BYTES, 'PROOF_MALFORMED'));
}

function parseSize(value: unknown, label: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    fail('PROOF_MALFORMED', `'${label}' must be a non-negative integer, got ${String(value)}`);
  return value;
}

/**
 * Checks the shape of an inclusion proof received as JSON.
 * @throws VdcError PROOF_MALFORMED naming the field
 */
export function parseInclusionProof(value: unknown): InclusionProof {
  assertObject(value, 'inclusion proof', 'PROOF_MALFORMED');
  assertExactKeys(
    value,
    'inclusion proof',
    ['leafIndex', 'treeSize', 'path'],
    [],
    'PROOF_MALFORMED',
  );
  const leafIndex = parseSize(value['leafIndex'], 'leafIndex');
  const treeSize = parseSize(value['treeSize'], 'treeSize');
  parsePath(value['path'], 'inclusion proof');
  return { leafIndex, treeSize, path: [...(value['path'] as string[])] };
}

/**
 * Checks the shape of a consistency proof received as JSON.
 * @throws VdcError PROOF_MALFORMED naming the field
 */
export function parseConsistencyProof(value: unknown): ConsistencyProof {
  assertObject(value, 'consistency proof', 'PROOF_MALFORMED');
  assertExactKeys(
    value,
    'consistency proof',
    ['oldSize', 'newSize', 'path'],
    [],
    'PROOF_MALFORMED',
  );
  const oldSize = parseSize(value['oldSize'], 'oldSize');
  const newSize = parseSize(value['newSize'], 'newSize');
  parsePath(value['path'], 'consistency proof');
  return { oldSize, newSize, path: [...(value['path'] as string[])] };
}

function inclusionFailed(proof: InclusionProof, why: string): never {
  fail(
    'PROOF_INCLUSION_INVALID',
    `the inclusion proof of leaf ${proof.leafIndex} in the tree of ${proof.treeSize} leaves does not hold: ${why}`,
  );
}

/**
 * Verifies that `leafHash` is leaf `proof.leafIndex` of the tree of `proof.treeSize`
 * leaves whose root is `root` (RFC 9162 §2.1.3.2).
 * @throws VdcError PROOF_INCLUSION_INVALID, PROOF_MALFORMED
 */
export function verifyInclusion(
  proof: InclusionProof,
  leafHash: Uint8Array,
  root: Uint8Array,
): void {
  const { leafIndex, treeSize } = parseInclusionProof(proof);
  const path = parsePath(proof.path, 'inclusion proof');
  if (leafIndex >= treeSize) inclusionFailed(proof, 'the leaf index is not below the tree size');
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r: Buffer = Buffer.from(leafHash);
  for (const p of path) {
    if (sn === 0) inclusionFailed(proof, 'the path is longer than the tree is deep');
    if (isOdd(fn) || fn === sn) {
      r = hashChildren(p, r);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) inclusionFailed(proof, 'the path is shorter than the tree is deep');
  if (!sameHash(r, root))
    inclusionFailed(proof, `it leads to root ${toHex(r)}, not to ${toHex(root)}`);
}

function consistencyFailed(proof: ConsistencyProof, why: string): never {
  fail(
    'PROOF_CONSISTENCY_INVALID',
    `the log of ${proof.oldSize} leaves is not proven a prefix of the log of ${proof.newSize} leaves: ${why}`,
  );
}

/**
 * Verifies that the tree of `proof.oldSize` leaves with root `oldRoot` is a prefix of the
 * tree of `proof.newSize` leaves with root `newRoot` (RFC 9162 §2.1.4.2). Equal sizes need
 * equal roots and an empty path; the empty tree is a prefix of every tree.
 * @throws VdcError PROOF_CONSISTENCY_INVALID, PROOF_MALFORMED
 */
export function verifyConsistency(
  proof: ConsistencyProof,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
): void {
  const { oldSize, newSize } = parseConsistencyProof(proof);
  const path = parsePath(proof.path, 'consistency proof');
  if (oldSize > newSize) consistencyFailed(proof, 'the new tree is smaller than the old one');
  if (oldSize === 0 || oldSize === newSize) {
    if (path.length !== 0)
      consistencyFailed(proof, 'there is nothing to prove, yet the path is not empty');
    if (oldSize === 0 && !sameHash(oldRoot, EMPTY_ROOT))
      consistencyFailed(proof, 'the old root is not the root of the empty tree');
    if (oldSize === newSize && !sameHash(oldRoot, newRoot))
      consistencyFailed(
        proof,
        `two different roots for one size: ${toHex(oldRoot)} and ${toHex(newRoot)}`,
      );
    return;
  }
  if (path.length === 0) consistencyFailed(proof, 'the path is empty');
  // Step 2: when the old tree is a complete subtree, its root is the first node of the path.
  if (isPowerOfTwo(oldSize)) path.unshift(Buffer.from(oldRoot));
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr: Buffer = path[0]!;
  let sr: Buffer = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) consistencyFailed(proof, 'the path is longer than the tree is deep');
    if (isOdd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) consistencyFailed(proof, 'the path is shorter than the tree is deep');
  if (!sameHash(fr, oldRoot))
    consistencyFailed(proof, `it rebuilds old root ${toHex(fr)}, not ${toHex(oldRoot)}`);
  if (!sameHash(sr, newRoot))
    consistencyFailed(proof, `it rebuilds new root ${toHex(sr)}, not ${toHex(newRoot)}`);
}
