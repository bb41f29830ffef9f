import { fail } from '../core/assert.ts';
import { toHex } from '../core/hex.ts';
import { EMPTY_ROOT } from './merkle-hash.ts';
import {
  consistencyRanges,
  foldSubtrees,
  inclusionRanges,
  type LeafRange,
  type SubtreeId,
  subtreesOf,
} from './merkle-range.ts';

/*
 * Proof generation (RFC 9162 §2.1.3.1 and §2.1.4.1) over any source of complete-subtree
 * hashes: an in-memory tree, or a store that keeps them. A proof needs at most about
 * 2·log2(n) subtrees, which are asked for in one call so a database answers in one query.
 */

/** Returns the hashes of the given complete subtrees, in the order asked. */
export type SubtreeReader = (ids: readonly SubtreeId[]) => Promise<Buffer[]> | Buffer[];

/** RFC 9162 inclusion proof, JSON-ready: `path` is the audit path, nearest the leaf first. */
export interface InclusionProof {
  leafIndex: number;
  treeSize: number;
  path: string[];
}

/** RFC 9162 consistency proof between two sizes of one log, JSON-ready. */
export interface ConsistencyProof {
  oldSize: number;
  newSize: number;
  path: string[];
}

async function hashRanges(read: SubtreeReader, ranges: readonly LeafRange[]): Promise<Buffer[]> {
  const pieces = ranges.map(subtreesOf);
  const ids = pieces.flat();
  const hashes = ids.length === 0 ? [] : await read(ids);
  if (hashes.length !== ids.length)
    fail('STORE_CORRUPT', `asked for ${ids.length} subtree hashes, got ${hashes.length}`);
  let at = 0;
  return pieces.map((p) => {
    const own = hashes.slice(at, at + p.length);
    at += p.length;
    return foldSubtrees(own);
  });
}

function assertSize(value: number, label: string): void {
  if (!Number.isSafeInteger(value) || value < 0)
    fail('LOG_RANGE_INVALID', `'${label}' must be a non-negative integer, got ${value}`);
}

/** MTH of the first `size` leaves (the empty tree's root for 0). */
export async function rootAt(read: SubtreeReader, size: number): Promise<Buffer> {
  assertSize(size, 'size');
  if (size === 0) return EMPTY_ROOT;
  const [root] = await hashRanges(read, [{ start: 0, end: size }]);
  return root!;
}

/**
 * The inclusion proof of leaf `leafIndex` in the tree of `treeSize` leaves.
 * @throws VdcError LOG_RANGE_INVALID when leafIndex >= treeSize
 */
export async function buildInclusionProof(
  read: SubtreeReader,
  leafIndex: number,
  treeSize: number,
): Promise<InclusionProof> {
  assertSize(leafIndex, 'leafIndex');
  assertSize(treeSize, 'treeSize');
  if (leafIndex >= treeSize)
    fail(
      'LOG_RANGE_INVALID',
      `leaf ${leafIndex} is not in a tree of ${treeSize} leaves: ask for a tree size above the leaf's index`,
    );
  const hashes = await hashRanges(read, inclusionRanges(leafIndex, treeSize));
  return { leafIndex, treeSize, path: hashes.map(toHex) };
}

/**
 * The consistency proof that the tree of `oldSize` leaves is a prefix of the tree of
 * `newSize` leaves; empty when oldSize is 0 or equals newSize (nothing to prove).
 * @throws VdcError LOG_RANGE_INVALID when oldSize > newSize
 */
export async function buildConsistencyProof(
  read: SubtreeReader,
  oldSize: number,
  newSize: number,
): Promise<ConsistencyProof> {
  assertSize(oldSize, 'oldSize');
  assertSize(newSize, 'newSize');
  if (oldSize > newSize)
    fail(
      'LOG_RANGE_INVALID',
      `a log never shrinks: no consistency proof from size ${oldSize} to the smaller ${newSize}`,
    );
  if (oldSize === 0 || oldSize === newSize) return { oldSize, newSize, path: [] };
  const hashes = await hashRanges(read, consistencyRanges(oldSize, newSize));
  return { oldSize, newSize, path: hashes.map(toHex) };
}
