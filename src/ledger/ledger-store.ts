import type { EncodedLeaf } from './log-leaf.ts';
import type { SubtreeId, SubtreeNode } from './merkle-range.ts';
import type { SignedHead } from './signed-head.ts';

/*
 * Where a ledger keeps its log. A store is dumb on purpose: the committer in front of it
 * (log-committer.ts) decides seq numbers, computes the interior nodes and signs heads; the
 * store writes each batch in one durable transaction and answers reads. Two stores
 * implement it, SQLite (sqlite-store.ts) and PostgreSQL (postgres-store.ts), and one test
 * suite (ledger-store-suite.ts) runs against both. Formats: docs/ledger-log.md.
 */

/** One commit: leaves seq = size.., the interior nodes they complete, and optionally a head. */
export interface AppendBatch {
  leaves: readonly EncodedLeaf[];
  /** interior nodes (level >= 1) completed by these leaves */
  nodes: readonly SubtreeNode[];
  /** heads signed for this batch, stored in the same transaction */
  heads: readonly SignedHead[];
}

/** A head as stored: its row id and its canonical JSON. */
export interface StoredHead {
  id: number;
  json: string;
}

export interface LedgerStore {
  /** e.g. `sqlite:/var/lib/vdc/ledger.db` or `postgres://host/db (schema s)`, never a password */
  readonly description: string;

  /**
   * Binds the store to one ledger (hex id of its key) the first time, and checks it after.
   * @throws VdcError STORE_LEDGER_MISMATCH when the store belongs to another ledger
   */
  claim(ledger: string): Promise<void>;

  /** The number of leaves. */
  size(): Promise<number>;

  /**
   * Writes a batch in one transaction; resolves only once it is durable. The batch must
   * start at the current size: a store written by someone else meanwhile refuses it.
   * @throws VdcError STORE_CONFLICT (nothing written), STORE_UNAVAILABLE, STORE_CLOSED
   */
  append(batch: AppendBatch): Promise<void>;

  /** Leaves with seq in [from, to), in order; fewer when the log ends before `to`. */
  readLeaves(from: number, to: number): Promise<EncodedLeaf[]>;

  /**
   * The hashes of complete subtrees, in the order asked (level 0 = leaf hashes); one query.
   * @throws VdcError STORE_CORRUPT when one is missing
   */
  readSubtrees(ids: readonly SubtreeId[]): Promise<Buffer[]>;

  /** The most recent head (largest size, then latest time), if any. */
  latestHead(): Promise<SignedHead | undefined>;

  /**
   * Stored heads in the order they were issued (by id), after id `afterId`, at most
   * `limit`; as their raw JSON, so an audit can report a damaged one rather than fail.
   */
  readHeads(afterId: number, limit: number): Promise<StoredHead[]>;

  close(): Promise<void>;
}
