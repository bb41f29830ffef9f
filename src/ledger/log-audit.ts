import type { ErrorCode } from '../core/error-codes.ts';
import { asVdcError } from '../core/errors.ts';
import { toHex } from '../core/hex.ts';
import { parseJson } from '../core/strict-json.ts';
import type { LedgerStore, StoredHead } from './ledger-store.ts';
import { type EncodedLeaf, type Leaf, parseLeafBytes } from './log-leaf.ts';
import { MerkleFrontier } from './merkle-frontier.ts';
import { hashLeaf } from './merkle-hash.ts';
import type { SubtreeNode } from './merkle-range.ts';
import { type SignedHead, verifyHead } from './signed-head.ts';

/*
 * The offline audit of a store (`vdc ledger verify`): walks every leaf in order, re-derives
 * its hash from its bytes, rebuilds the tree and compares every interior node the store
 * keeps for proofs, and checks each stored head's signature and root against the rebuilt
 * tree. Transaction-level checks (signatures, rules at acceptedAt) come in through
 * `checkEntry`, called once per leaf in seq order. It stops at the first problem and names
 * it; it never writes to the store. Memory stays flat: one page of leaves at a time.
 */

export interface AuditFinding {
  /** the first leaf that cannot be trusted */
  seq: number;
  /** what was found wrong: a leaf, an interior node, or a head */
  at: 'leaf' | 'node' | 'head';
  code: ErrorCode;
  reason: string;
}

export interface AuditReport {
  ok: boolean;
  /** leaves in the store */
  size: number;
  /** leaves checked before stopping */
  checked: number;
  /** heads checked */
  heads: number;
  finding?: AuditFinding;
}

export interface AuditOptions {
  /** transaction-level check of each leaf; throw a VdcError to name what is wrong */
  checkEntry?: (leaf: Leaf, encoded: EncodedLeaf) => void | Promise<void>;
  /** leaves read per query */
  pageSize?: number;
  /** called after each page with the leaves checked so far */
  onProgress?: (checked: number, size: number) => void;
}

class Found extends Error {
  readonly finding: AuditFinding;
  constructor(finding: AuditFinding) {
    super(finding.reason);
    this.finding = finding;
  }
}

function found(seq: number, at: AuditFinding['at'], code: ErrorCode, reason: string): never {
  throw new Found({ seq, at, code, reason });
}

/** Streams stored heads in issue order, each verified and in order of size and time. */
class HeadCursor {
  private buffer: StoredHead[] = [];
  private afterId = 0;
  private done = false;
  private previous: SignedHead | undefined;
  /** the size up to which every leaf is covered by a verified head */
  verifiedUpTo = 0;
  count = 0;
  private readonly store: LedgerStore;
  private readonly key: Uint8Array;
  private readonly logSize: number;

  constructor(store: LedgerStore, key: Uint8Array, logSize: number) {
    this.store = store;
    this.key = key;
    this.logSize = logSize;
  }

  /** The next head, verified, or undefined when there are no more. */
  async next(): Promise<SignedHead | undefined> {
    if (this.buffer.length === 0 && !this.done) {
      this.buffer = await this.store.readHeads(this.afterId, 1000);
      if (this.buffer.length < 1000) this.done = true;
    }
    const row = this.buffer.shift();
    if (row === undefined) return undefined;
    this.afterId = row.id;
    const first = this.verifiedUpTo;
    let head: SignedHead;
    try {
      head = verifyHead(parseJson(row.json), this.key);
    } catch (err) {
      const e = asVdcError(err);
      found(
        first,
        'head',
        e.code === 'JSON_MALFORMED' ? 'HEAD_MALFORMED' : e.code,
        `stored head #${row.id}: ${e.message}`,
      );
    }
    if (head.size > this.logSize)
      found(
        first,
        'head',
        'LOG_HEAD_BEYOND_LOG',
        `head #${row.id} was signed for ${head.size} leaves, but the store holds only ${this.logSize}: leaves were removed`,
      );
    const prev = this.previous;
    if (prev && (head.size < prev.size || head.time < prev.time))
      found(
        first,
        'head',
        'LOG_HEAD_TIME_BACKWARDS',
        `head #${row.id} (size ${head.size}, time ${head.time}) comes after a head of size ${prev.size} at time ${prev.time}: heads only move forward`,
      );
    this.previous = head;
    this.count++;
    return head;
  }
}

/**
 * Audits a whole store against the ledger's public key (32 raw bytes).
 * @returns a report; `ok` false with the first finding when anything is wrong
 * @throws VdcError STORE_UNAVAILABLE when the store cannot be read (not a finding)
 */
export async function auditLog(
  store: LedgerStore,
  ledgerKey: Uint8Array,
  options: AuditOptions = {},
): Promise<AuditReport> {
  const pageSize = options.pageSize ?? 1000;
  const size = await store.size();
  const heads = new HeadCursor(store, ledgerKey, size);
  const frontier = MerkleFrontier.empty();
  let checked = 0;
  let lastAccepted = 0;
  try {
    let head = await heads.next();
    const checkHeadsAt = async (n: number): Promise<void> => {
      while (head !== undefined && head.size === n) {
        const root = toHex(frontier.root());
        if (root !== head.root)
          found(
            heads.verifiedUpTo,
            'head',
            'LOG_HEAD_ROOT_MISMATCH',
            `the leaves stored at seq ${heads.verifiedUpTo}..${n - 1} no longer hash to the signed head of size ${n} (root ${head.root}, rebuilt ${root}): one of them was changed after it was signed`,
          );
        heads.verifiedUpTo = n;
        head = await heads.next();
      }
    };
    await checkHeadsAt(0);
    for (let from = 0; from < size; from += pageSize) {
      const to = Math.min(size, from + pageSize);
      const page = await store.readLeaves(from, to);
      // First pass: the interior nodes this page completes, fetched in one query.
      const scratch = frontier.clone();
      const expected: SubtreeNode[][] = page.map((leaf) => scratch.append(hashLeaf(leaf.bytes)));
      const ids = expected.flat();
      let stored: Buffer[];
      try {
        stored = ids.length === 0 ? [] : await store.readSubtrees(ids);
      } catch (err) {
        const e = asVdcError(err);
        if (e.code !== 'STORE_CORRUPT') throw e;
        found(
          from,
          'node',
          'STORE_CORRUPT',
          `${e.message} (an interior node of leaves ${from}..${to - 1} is missing)`,
        );
      }
      let at = 0;
      for (let i = 0; i < to - from; i++) {
        const seq = from + i;
        const encoded = page[i];
        if (encoded === undefined || encoded.seq !== seq)
          found(seq, 'leaf', 'STORE_CORRUPT', `leaf ${seq} is missing from the store`);
        let leaf: Leaf;
        try {
          leaf = parseLeafBytes(encoded.bytes);
        } catch (err) {
          found(seq, 'leaf', asVdcError(err).code, `leaf ${seq}: ${asVdcError(err).message}`);
        }
        if (leaf.seq !== seq)
          found(
            seq,
            'leaf',
            'LOG_LEAF_SEQ_MISMATCH',
            `the leaf stored at seq ${seq} says it is leaf ${leaf.seq}`,
          );
        const hash = hashLeaf(encoded.bytes);
        if (!hash.equals(encoded.hash))
          found(
            seq,
            'leaf',
            'LOG_LEAF_HASH_MISMATCH',
            `leaf ${seq}'s bytes hash to ${toHex(hash)}, but the store holds ${toHex(encoded.hash)}: the leaf was changed after it was written`,
          );
        if (leaf.acceptedAt < lastAccepted)
          found(
            seq,
            'leaf',
            'LOG_TIME_BACKWARDS',
            `leaf ${seq} was accepted at ${leaf.acceptedAt}, before leaf ${seq - 1} (${lastAccepted})`,
          );
        lastAccepted = leaf.acceptedAt;
        if (options.checkEntry) {
          try {
            await options.checkEntry(leaf, encoded);
          } catch (err) {
            const e = asVdcError(err);
            found(seq, 'leaf', e.code, `leaf ${seq}: ${e.message}`);
          }
        }
        frontier.append(hash);
        for (const node of expected[i]!) {
          const have = stored[at++]!;
          if (!have.equals(node.hash)) {
            const first = node.index * 2 ** node.level;
            found(
              first,
              'node',
              'LOG_NODE_MISMATCH',
              `the stored interior node over leaves ${first}..${first + 2 ** node.level - 1} (level ${node.level}) differs from the hash of those leaves: one of them, or the node, was changed after it was written`,
            );
          }
        }
        checked = seq + 1;
        await checkHeadsAt(checked);
      }
      options.onProgress?.(checked, size);
    }
    // Heads are checked as the walk reaches their size; any left over are out of order.
    if (head !== undefined)
      found(
        heads.verifiedUpTo,
        'head',
        'LOG_HEAD_TIME_BACKWARDS',
        `a head of size ${head.size} is stored after larger ones`,
      );
    return { ok: true, size, checked, heads: heads.count };
  } catch (err) {
    if (!(err instanceof Found)) throw err;
    return { ok: false, size, checked, heads: heads.count, finding: err.finding };
  }
}
