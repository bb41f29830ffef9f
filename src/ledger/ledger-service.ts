import type { KeyObject } from 'node:crypto';
import { fail } from '../core/assert.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { asVdcError, type VdcError } from '../core/errors.ts';
import { toHex } from '../core/hex.ts';
import { rawPublicKey } from '../core/keys.ts';
import { ledgerId } from './ledger-id.ts';
import type { LedgerStore } from './ledger-store.ts';
import { LogCommitter } from './log-committer.ts';
import { type Leaf, parseLeafBytes } from './log-leaf.ts';
import { storeConsistencyProof, storeInclusionProof, storeRoot } from './log-proofs.ts';
import type { ConsistencyProof, InclusionProof } from './merkle-proof.ts';
import { type Applied, Projection } from './projection.ts';
import type { SignedHead } from './signed-head.ts';
import { parseSubmission } from './tx-parse.ts';

/*
 * The ledger itself: one writer that checks each submission against its projection at the
 * acceptedAt it assigns, then appends it through the group committer. Checking and
 * numbering happen in one synchronous step, so the projection and the log always agree on
 * order; a refused submission changes neither. If a commit fails after the projection moved,
 * the service stops accepting (the process restarts from the store, which holds exactly the
 * acknowledged leaves).
 */

export const MAX_ENTRIES_PER_PAGE = 1000;

export interface Accepted {
  leaf: Leaf;
  created: Applied['created'];
  /** a head that includes the leaf */
  head: SignedHead;
}

export type LedgerEvent = { kind: 'leaf'; leaf: Leaf } | { kind: 'head'; head: SignedHead };

export interface LedgerServiceOptions {
  store: LedgerStore;
  ledgerKey: KeyObject;
  clock?: Clock;
  /** called with each page of the replay at start: (leaves replayed, total) */
  onReplay?: (done: number, total: number) => void;
  /** tests only: log node reports whatever their root (a dishonest ledger, for split-view tests) */
  acceptAnyReportedHead?: boolean;
  /** called once if a commit fails: the service then refuses everything and should be restarted */
  onBroken?: (err: VdcError) => void;
}

export class LedgerService {
  readonly ledger: string;
  readonly publicKey: Buffer;
  readonly store: LedgerStore;
  readonly projection: Projection;
  readonly #committer: LogCommitter;
  readonly #clock: Clock;
  readonly #listeners = new Set<(event: LedgerEvent) => void>();
  #broken: VdcError | undefined;
  readonly #onBroken: ((err: VdcError) => void) | undefined;
  #acceptAnyReportedHead = false;

  private constructor(
    store: LedgerStore,
    committer: LogCommitter,
    projection: Projection,
    publicKey: Buffer,
    clock: Clock,
    onBroken?: (err: VdcError) => void,
  ) {
    this.#onBroken = onBroken;
    this.store = store;
    this.#committer = committer;
    this.projection = projection;
    this.publicKey = publicKey;
    this.ledger = projection.ledger;
    this.#clock = clock;
  }

  /**
   * Opens the ledger over its store: replays every leaf into a fresh projection (so state
   * is always the log's), then opens the writer.
   * @throws VdcError STORE_*, or the code of a stored leaf the rules refuse (a damaged store)
   */
  static async open(opts: LedgerServiceOptions): Promise<LedgerService> {
    const clock = opts.clock ?? systemClock;
    const publicKey = rawPublicKey(opts.ledgerKey);
    const committer = await LogCommitter.open(opts.store, { ledgerKey: opts.ledgerKey, clock });
    const projection = await replayStore(opts.store, ledgerId(publicKey), opts.onReplay);
    if (!committer.head) await committer.issueHead();
    const service = new LedgerService(
      opts.store,
      committer,
      projection,
      publicKey,
      clock,
      opts.onBroken,
    );
    service.#acceptAnyReportedHead = opts.acceptAnyReportedHead === true;
    return service;
  }

  /**
   * Throws the failure that stopped this service, if any: after a failed commit its
   * projection may hold a transaction the log does not, so it must not answer anything.
   */
  assertHealthy(): void {
    if (this.#broken) throw this.#broken;
  }

  /** The failure that stopped the service; the process should exit and restart from its store. */
  get broken(): VdcError | undefined {
    return this.#broken;
  }

  get head(): SignedHead {
    return this.#committer.head!;
  }

  /**
   * Checks a submission `{tx, sig}` and appends it; resolves once it is durable.
   * @throws VdcError TX_* or a rule's code (nothing changed); LOG_COMMIT_FAILED
   */
  async submit(input: unknown): Promise<Accepted> {
    if (this.#broken) throw this.#broken;
    const { tx, raw, sig } = parseSubmission(input);
    await this.#checkReportedHead(tx);
    if (this.#broken) throw this.#broken;
    const acceptedAt = Math.max(
      this.#clock.now(),
      this.projection.lastAcceptedAt,
      this.#committer.lastAcceptedAt,
    );
    const draft = { acceptedAt, tx: raw as unknown as Leaf['tx'], sig };
    const applied = this.projection.apply({ seq: this.projection.size, ...draft });
    const committed = this.#committer.append([draft]);
    let leaf: Leaf;
    try {
      [leaf] = (await committed) as [Leaf];
    } catch (err) {
      this.#break(err);
      throw err;
    }
    const head = this.#committer.head!;
    this.#emit({ kind: 'leaf', leaf });
    this.#emit({ kind: 'head', head });
    return { leaf, created: applied.created, head };
  }

  /**
   * Gossip, the ledger's half: a node reports the newest head it verified. An honest ledger
   * refuses a report whose root is not its own at that size, so a mismatch that reaches the
   * log is the ledger's fault (followers treat it as proof of a split view), and a node cannot
   * make one up to condemn an honest ledger.
   */
  async #checkReportedHead(tx: { type: string; body: unknown }): Promise<void> {
    if (tx.type !== 'node.report' || this.#acceptAnyReportedHead) return;
    const head = (tx.body as { head?: { size: number; root: string } | null }).head;
    if (!head || head.size === 0) return;
    const durable = this.#committer.head?.size ?? 0;
    if (head.size > durable)
      fail(
        'NODE_REPORT_HEAD_MISMATCH',
        `the report carries a head of size ${head.size}, but this ledger has signed no head beyond ${durable}: report a head you verified`,
      );
    const root = toHex(await storeRoot(this.store, head.size));
    if (root !== head.root)
      fail(
        'NODE_REPORT_HEAD_MISMATCH',
        `the report carries root ${head.root} at size ${head.size}, but this ledger's root there is ${root}: the node saw another history; keep its head as evidence`,
      );
  }

  /** Signs and stores a fresh head, so followers see the ledger alive while nothing happens. */
  async heartbeat(): Promise<SignedHead> {
    this.assertHealthy();
    let head: SignedHead;
    try {
      head = await this.#committer.issueHead();
    } catch (err) {
      this.#break(err);
      throw err;
    }
    this.#emit({ kind: 'head', head });
    return head;
  }

  /** Leaves [from, from + limit), capped at MAX_ENTRIES_PER_PAGE and the log's size. */
  async entries(from: number, limit = MAX_ENTRIES_PER_PAGE): Promise<Leaf[]> {
    if (!Number.isSafeInteger(from) || from < 0)
      fail('INPUT_INVALID', `'from' must be a non-negative integer, got ${from}`);
    if (!Number.isSafeInteger(limit) || limit < 1)
      fail('INPUT_INVALID', `'limit' must be a positive integer, got ${limit}`);
    const to = Math.min(from + Math.min(limit, MAX_ENTRIES_PER_PAGE), this.head.size);
    if (from >= to) return [];
    return (await this.store.readLeaves(from, to)).map((e) => parseLeafBytes(e.bytes));
  }

  inclusionProof(seq: number, size: number): Promise<InclusionProof> {
    return storeInclusionProof(this.store, seq, size);
  }

  consistencyProof(from: number, to: number): Promise<ConsistencyProof> {
    return storeConsistencyProof(this.store, from, to);
  }

  /** Calls `listener` with every leaf and head from now on; returns the unsubscribe function. */
  subscribe(listener: (event: LedgerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #break(err: unknown): void {
    if (this.#broken) return;
    this.#broken = asVdcError(err);
    this.#onBroken?.(this.#broken);
  }

  #emit(event: LedgerEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure (a reader that went away) must not fail a committed submit.
      }
    }
  }

  async close(): Promise<void> {
    await this.#committer.flushed();
    await this.store.close();
  }
}

/** A projection rebuilt from every leaf of a store, page by page (`vdc ledger rebuild`). */
export async function replayStore(
  store: LedgerStore,
  ledger: string,
  onPage?: (done: number, total: number) => void,
): Promise<Projection> {
  const projection = new Projection(ledger);
  const total = await store.size();
  for (let from = 0; from < total; from += MAX_ENTRIES_PER_PAGE) {
    const page = await store.readLeaves(from, Math.min(from + MAX_ENTRIES_PER_PAGE, total));
    for (const encoded of page) projection.apply(parseLeafBytes(encoded.bytes));
    onPage?.(Math.min(from + MAX_ENTRIES_PER_PAGE, total), total);
  }
  return projection;
}
