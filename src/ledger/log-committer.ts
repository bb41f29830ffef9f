import type { KeyObject } from 'node:crypto';
import { fail } from '../core/assert.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { asVdcError, VdcError } from '../core/errors.ts';
import { rawPublicKey } from '../core/keys.ts';
import { ledgerId } from './ledger-id.ts';
import type { LedgerStore } from './ledger-store.ts';
import { type EncodedLeaf, encodeLeaf, type Leaf, parseLeafBytes } from './log-leaf.ts';
import { MerkleFrontier } from './merkle-frontier.ts';
import type { SubtreeNode } from './merkle-range.ts';
import { type SignedHead, signHead } from './signed-head.ts';

/*
 * The single writer in front of a store. It numbers leaves in call order, keeps the right
 * edge of the tree (O(log n) hashes), and commits by group: while one transaction is being
 * made durable, every append that arrives waits, and all of them go into the next
 * transaction together, with one signed head for the new size. Each caller's promise
 * resolves only after the commit holding its leaves is durable.
 *
 * If a commit fails, the leaves numbered after it can no longer land where they were
 * numbered, so the committer refuses everything from then on (LOG_COMMIT_FAILED) and the
 * ledger must be reopened from its store, which holds exactly the acknowledged leaves.
 */

/** A leaf before the log numbers it. */
export type LeafDraft = Omit<Leaf, 'seq'>;

export interface CommitterOptions {
  /** the ledger's Ed25519 private key: heads are signed with it */
  ledgerKey: KeyObject;
  clock?: Clock;
  /** leaves per transaction at most (a larger group waits for the next one) */
  maxBatch?: number;
}

interface Pending {
  leaves: EncodedLeaf[];
  parsed: Leaf[];
  resolve: (leaves: Leaf[]) => void;
  reject: (err: unknown) => void;
}

export class LogCommitter {
  private readonly store: LedgerStore;
  private readonly key: KeyObject;
  private readonly clock: Clock;
  private readonly maxBatch: number;
  private frontier: MerkleFrontier;
  private assigned: number;
  private lastAccepted: number;
  private latest: SignedHead | undefined;
  private queue: Pending[] = [];
  private running: Promise<void> | undefined;
  private broken: VdcError | undefined;

  private constructor(
    store: LedgerStore,
    options: CommitterOptions,
    frontier: MerkleFrontier,
    lastAccepted: number,
    latest: SignedHead | undefined,
  ) {
    this.store = store;
    this.key = options.ledgerKey;
    this.clock = options.clock ?? systemClock;
    this.maxBatch = options.maxBatch ?? 1024;
    this.frontier = frontier;
    this.assigned = frontier.size;
    this.lastAccepted = lastAccepted;
    this.latest = latest;
  }

  /**
   * Opens the writer over a store, binding the store to this ledger key.
   * @throws VdcError STORE_LEDGER_MISMATCH, STORE_UNAVAILABLE, STORE_CORRUPT
   */
  static async open(store: LedgerStore, options: CommitterOptions): Promise<LogCommitter> {
    await store.claim(ledgerId(rawPublicKey(options.ledgerKey)));
    const size = await store.size();
    const hashes = await store.readSubtrees(MerkleFrontier.subtreesFor(size));
    const frontier = MerkleFrontier.fromHashes(size, hashes);
    const [last] = size === 0 ? [] : await store.readLeaves(size - 1, size);
    if (size > 0 && last === undefined)
      fail('STORE_CORRUPT', `the store lacks its last leaf, seq ${size - 1}`);
    const lastAccepted = last === undefined ? 0 : parseLeafBytes(last.bytes).acceptedAt;
    return new LogCommitter(store, options, frontier, lastAccepted, await store.latestHead());
  }

  /** Leaves numbered so far, including those not yet durable: the next seq. */
  get size(): number {
    return this.assigned;
  }

  /** Leaves durable in the store. */
  get committedSize(): number {
    return this.frontier.size;
  }

  /** The acceptedAt of the newest numbered leaf: the next one may not be earlier. */
  get lastAcceptedAt(): number {
    return this.lastAccepted;
  }

  /** The newest head stored, if any. */
  get head(): SignedHead | undefined {
    return this.latest;
  }

  /**
   * Numbers the drafts (synchronously, in call order) and resolves with the leaves once they
   * are durable. A draft that is malformed or earlier than the previous leaf fails the whole
   * call before anything is numbered.
   * @throws VdcError LOG_LEAF_MALFORMED, LOG_TIME_BACKWARDS, LOG_COMMIT_FAILED, and the
   *   store's error for the commit that failed
   */
  append(drafts: readonly LeafDraft[]): Promise<Leaf[]> {
    try {
      if (this.broken) throw this.refusal();
      const parsed: Leaf[] = [];
      let at = this.lastAccepted;
      for (const [i, draft] of drafts.entries()) {
        if (draft.acceptedAt < at)
          fail(
            'LOG_TIME_BACKWARDS',
            `leaf ${this.assigned + i} would be accepted at ${draft.acceptedAt}, before the previous leaf (${at}): the log's time never goes back`,
          );
        at = draft.acceptedAt;
        parsed.push({
          seq: this.assigned + i,
          acceptedAt: draft.acceptedAt,
          tx: draft.tx,
          sig: draft.sig,
        });
      }
      const leaves = parsed.map(encodeLeaf);
      this.assigned += leaves.length;
      this.lastAccepted = at;
      const { promise, resolve, reject } = Promise.withResolvers<Leaf[]>();
      this.queue.push({ leaves, parsed, resolve, reject });
      this.kick();
      return promise;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Signs and stores a fresh head for the committed size, so followers see the ledger alive
   * even when nothing is submitted. It goes through the commit queue like any append, so
   * stored heads are always in order of size and time.
   * @throws VdcError LOG_COMMIT_FAILED, STORE_*
   */
  async issueHead(): Promise<SignedHead> {
    await this.append([]);
    return this.latest!;
  }

  /** Resolves when everything appended so far is committed (or has failed). */
  async flushed(): Promise<void> {
    while (this.running) await this.running;
  }

  private refusal(): VdcError {
    return new VdcError(
      'LOG_COMMIT_FAILED',
      `an earlier commit to ${this.store.description} failed (${this.broken?.code}: ${this.broken?.message}); reopen the ledger from its store`,
      { cause: this.broken },
    );
  }

  private sign(frontier: MerkleFrontier): SignedHead {
    // Never before a leaf it covers was accepted: followers hold the ledger to that.
    const time = Math.max(this.clock.now(), this.latest?.time ?? 0, this.lastAccepted);
    return signHead({ size: frontier.size, root: frontier.root(), time }, this.key);
  }

  private kick(): void {
    if (this.running) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0) this.kick(); // appended after the drain looked, before this ran
    });
  }

  private async drain(): Promise<void> {
    // One event-loop turn first, so requests already received (e.g. HTTP bodies being parsed)
    // join this group instead of each paying for its own fsync.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const group: Pending[] = [];
      let count = 0;
      while (
        this.queue.length > 0 &&
        (group.length === 0 || count + this.queue[0]!.leaves.length <= this.maxBatch)
      ) {
        const next = this.queue.shift()!;
        group.push(next);
        count += next.leaves.length;
      }
      await this.commit(group);
    }
  }

  private async commit(group: Pending[]): Promise<void> {
    const frontier = this.frontier.clone();
    const leaves = group.flatMap((p) => p.leaves);
    const nodes: SubtreeNode[] = [];
    for (const leaf of leaves) nodes.push(...frontier.append(leaf.hash));
    const head = this.sign(frontier);
    try {
      await this.store.append({ leaves, nodes, heads: [head] });
    } catch (err) {
      this.broken = asVdcError(err);
      for (const p of group) p.reject(err);
      const refusal = this.refusal();
      for (const p of this.queue.splice(0)) p.reject(refusal);
      return;
    }
    this.frontier = frontier;
    this.latest = head;
    for (const p of group) p.resolve(p.parsed);
  }
}
