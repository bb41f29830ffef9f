import { fail } from '../core/assert.ts';
import { VdcError } from '../core/errors.ts';
import type { LedgerStore } from './ledger-store.ts';
import {
  buildConsistencyProof,
  buildInclusionProof,
  type ConsistencyProof,
  type InclusionProof,
  rootAt,
  type SubtreeReader,
} from './merkle-proof.ts';
import type { SubtreeId } from './merkle-range.ts';

/*
 * Proofs straight from a store: O(log n) subtree hashes whatever the size of the log,
 * nothing of the tree held in memory, and one store query per proof. That query also asks
 * for the last leaf of the tree being proven, so a size the log has not reached shows up
 * as a missing row instead of costing a separate size query.
 */

async function within<T>(
  store: LedgerStore,
  size: number,
  build: (read: SubtreeReader) => Promise<T>,
): Promise<T> {
  const sentinel: SubtreeId[] =
    Number.isSafeInteger(size) && size > 0 ? [{ level: 0, index: size - 1 }] : [];
  let asked = false;
  const read = async (ids: readonly SubtreeId[]) => {
    asked = true;
    const hashes = await store.readSubtrees([...ids, ...sentinel]);
    return hashes.slice(0, ids.length);
  };
  try {
    const result = await build(read);
    if (!asked && sentinel.length > 0) await store.readSubtrees(sentinel);
    return result;
  } catch (err) {
    if (err instanceof VdcError && err.code === 'STORE_CORRUPT') {
      const have = await store.size();
      if (size > have)
        fail(
          'LOG_SIZE_EXCEEDED',
          `the log has ${have} leaves, not ${size}: ask for a size it has reached`,
        );
    }
    throw err;
  }
}

/** MTH of the first `size` leaves. @throws VdcError LOG_SIZE_EXCEEDED, LOG_RANGE_INVALID, STORE_* */
export function storeRoot(store: LedgerStore, size: number): Promise<Buffer> {
  return within(store, size, (read) => rootAt(read, size));
}

/** @throws VdcError LOG_SIZE_EXCEEDED, LOG_RANGE_INVALID, STORE_* */
export function storeInclusionProof(
  store: LedgerStore,
  leafIndex: number,
  treeSize: number,
): Promise<InclusionProof> {
  return within(store, treeSize, (read) => buildInclusionProof(read, leafIndex, treeSize));
}

/** @throws VdcError LOG_SIZE_EXCEEDED, LOG_RANGE_INVALID, STORE_* */
export function storeConsistencyProof(
  store: LedgerStore,
  oldSize: number,
  newSize: number,
): Promise<ConsistencyProof> {
  return within(store, newSize, (read) => buildConsistencyProof(read, oldSize, newSize));
}
