import { fail } from '../core/assert.ts';
import { hashChildren } from './merkle-hash.ts';

/*
 * The shape of an RFC 9162 tree, as ranges of leaves. Every node of the tree over n leaves
 * covers [start, end) where start is a multiple of the smallest power of two >= end - start,
 * so its hash is the right fold of at most log2(n) complete, aligned subtrees. Those
 * complete subtrees are what stores keep; everything here is arithmetic on sizes, with
 * plain numbers (not 32-bit bit operations) so sizes up to 2^53 work.
 */

/** The complete subtree over leaves [index * 2^level, (index + 1) * 2^level). */
export interface SubtreeId {
  level: number;
  index: number;
}

/** A complete subtree with its hash; level 0 is a leaf hash. */
export interface SubtreeNode extends SubtreeId {
  hash: Buffer;
}

/** Leaves [start, end). */
export interface LeafRange {
  start: number;
  end: number;
}

/** The largest power of two strictly less than n (n >= 2): RFC 9162's k. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The aligned complete subtrees that make up a tree node, largest (leftmost) first. */
export function subtreesOf(range: LeafRange): SubtreeId[] {
  const out: SubtreeId[] = [];
  let start = range.start;
  while (start < range.end) {
    let size = 1;
    let level = 0;
    while (size * 2 <= range.end - start) {
      size *= 2;
      level++;
    }
    if (start % size !== 0)
      fail('INTERNAL', `leaf range ${range.start}..${range.end} is not a node of a Merkle tree`);
    out.push({ level, index: start / size });
    start += size;
  }
  return out;
}

/** The hash of a node from the hashes of its subtrees (as ordered by subtreesOf). */
export function foldSubtrees(hashes: readonly Buffer[]): Buffer {
  let acc = hashes[hashes.length - 1];
  if (acc === undefined) fail('INTERNAL', 'a Merkle node is made of at least one subtree');
  for (let i = hashes.length - 2; i >= 0; i--) acc = hashChildren(hashes[i]!, acc);
  return acc;
}

/**
 * The nodes whose hashes form the inclusion proof of leaf `index` in a tree of `size`
 * leaves, nearest the leaf first: RFC 9162 §2.1.3.1 PATH(m, D[n]), unrolled.
 */
export function inclusionRanges(index: number, size: number): LeafRange[] {
  const path: LeafRange[] = [];
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (index < start + k) {
      path.push({ start: start + k, end });
      end = start + k;
    } else {
      path.push({ start, end: start + k });
      start += k;
    }
  }
  return path.reverse();
}

/**
 * The nodes whose hashes form the consistency proof from `oldSize` to `newSize`
 * (0 < oldSize < newSize): RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], true), unrolled.
 */
export function consistencyRanges(oldSize: number, newSize: number): LeafRange[] {
  const path: LeafRange[] = [];
  let start = 0;
  let end = newSize;
  let whole = true; // RFC's b: the old tree is this very subtree, so its root is already known
  while (oldSize !== end) {
    const k = splitPoint(end - start);
    if (oldSize - start <= k) {
      path.push({ start: start + k, end });
      end = start + k;
    } else {
      path.push({ start, end: start + k });
      start += k;
      whole = false;
    }
  }
  if (!whole) path.push({ start, end });
  return path.reverse();
}
