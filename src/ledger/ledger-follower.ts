import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fail } from '../core/assert.ts';
import { writeFileAtomicAsync } from '../core/atomic-file.ts';
import { canonicalize } from '../core/canonical-json.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { asVdcError, VdcError } from '../core/errors.ts';
import { toHex } from '../core/hex.ts';
import { httpJson } from '../core/http-client.ts';
import { readEvents } from '../core/sse.ts';
import { parseJson } from '../core/strict-json.ts';
import { ledgerId } from './ledger-id.ts';
import { type EncodedLeaf, encodeLeaf, type Leaf } from './log-leaf.ts';
import { MerkleFrontier } from './merkle-frontier.ts';
import { MemoryMerkleTree } from './merkle-memory-tree.ts';
import { parseConsistencyProof, verifyConsistency, verifyInclusion } from './merkle-verify.ts';
import { Projection } from './projection.ts';
import { type SignedHead, verifyHead } from './signed-head.ts';

/*
 * The verifying follower: the ledger's public client library, and the only way the node,
 * gateway, relay and agent learn state. It trusts nothing the server says without proof:
 *
 * - heads must be signed by the pinned key; a head smaller than one already verified is a
 *   rollback, an equal size with another root or a failed consistency proof is a fork;
 * - leaves are fetched a page at a time and each page is proven a prefix of the verified
 *   head (consistency proof from the page's end to the head) before it is applied;
 * - every leaf goes through the same rules as on the ledger, into the follower's own
 *   projection; a leaf the rules refuse means the ledger signed an invalid log;
 * - every head a node reports (gossip) is compared with the follower's own tree at that
 *   size, so a ledger that shows different histories to different parties is caught.
 *
 * Any of these is a hard error that names the heads involved; the follower then refuses all
 * use until it is rebuilt. The last verified head is kept on disk (`stateFile`), so a
 * restarted follower still refuses a smaller or different log. A head is saved before it is
 * trusted in memory, never the other way round: a head this process acted on but did not save
 * would let a restart accept a log rolled back below it. The save runs off the event loop
 * (a gateway must not stall on the fsyncs of every heartbeat head).
 */

const PAGE = 1000;
/** How many recent leaves' created ids are kept for submitters. */
const RECENT_CREATED = 4096;

export interface FollowerOptions {
  /** base URL of the ledger, e.g. http://127.0.0.1:8080 */
  url: string;
  /** the pinned ledger public key (32 raw bytes) */
  ledgerKey: Uint8Array;
  /** file holding the last verified head, kept across restarts */
  stateFile?: string;
  clock?: Clock;
  timeoutMs?: number;
}

export class LedgerFollower {
  readonly url: string;
  readonly ledger: string;
  /** the pinned ledger public key */
  readonly ledgerKey: Uint8Array;
  readonly #stateFile: string | undefined;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #projection: Projection;
  readonly #tree = new MemoryMerkleTree();
  #frontier = MerkleFrontier.empty();
  /** the newest head verified, by this process or (at start) by an earlier one */
  #trusted: SignedHead | undefined;
  #verifiedAt = 0;
  #failure: VdcError | undefined;
  #syncing: Promise<SignedHead> | undefined;
  /** whether the running sync fetches the ledger's head itself (was given none) */
  #syncingFetches = false;
  readonly #created = new Map<number, Record<string, number>>();

  constructor(opts: FollowerOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    this.ledgerKey = opts.ledgerKey;
    this.ledger = ledgerId(opts.ledgerKey);
    this.#stateFile = opts.stateFile;
    this.#clock = opts.clock ?? systemClock;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#projection = new Projection(this.ledger);
    this.#trusted = this.#loadTrusted();
  }

  /** The follower's own projection, up to the newest verified head. @throws the follower's hard error */
  get view(): Projection {
    if (this.#failure) throw this.#failure;
    return this.#projection;
  }

  /** The newest verified head whose leaves are all applied, if any. */
  get head(): SignedHead | undefined {
    return this.#trusted && this.#trusted.size === this.#projection.size
      ? this.#trusted
      : undefined;
  }

  /** Local time (ms) at which the newest head was verified; 0 before any. */
  get verifiedAt(): number {
    return this.#verifiedAt;
  }

  get failure(): VdcError | undefined {
    return this.#failure;
  }

  /**
   * Fetches the ledger's newest head (or checks `head`, e.g. one a peer gossiped), proves it
   * consistent with what was verified before, and applies every leaf up to it. A call made
   * while another sync runs waits for it, then syncs again unless that one covered `head`
   * (without `head`: unless that one fetched the ledger's head after this call).
   * @throws VdcError LEDGER_ROLLBACK, LEDGER_FORK, LEDGER_ENTRY_REFUSED, LEDGER_SPLIT_VIEW
   *   (final: signed evidence, the follower refuses all use after); LEDGER_REWRITTEN,
   *   LEDGER_HEAD_STALE, HEAD_*, PROOF_*, PEER_* (not final: the answer is refused, a later
   *   sync may succeed); FILE_WRITE_FAILED (the new head could not be saved, so it is not
   *   trusted; its leaves are applied already, so `head` may show none until a sync saves one)
   */
  async sync(head?: unknown): Promise<SignedHead> {
    // Without a head the caller wants the ledger as it is now: the sync running at this call
    // may have read the ledger's head before it, so only a later one that fetched its own
    // will do (a node checking a contract just created must find it).
    const running = this.#syncing;
    while (this.#syncing) {
      const fresh = this.#syncing !== running && this.#syncingFetches;
      const done = await this.#syncing.catch(() => undefined);
      if (done && (head === undefined ? fresh : sameHead(done, head))) return done;
    }
    if (this.#failure) throw this.#failure;
    this.#syncingFetches = head === undefined;
    this.#syncing = this.#sync(head).finally(() => {
      this.#syncing = undefined;
    });
    return this.#syncing;
  }

  async #sync(given: unknown): Promise<SignedHead> {
    const head = verifyHead(given ?? (await this.#get('/v1/head')), this.ledgerKey);
    const old = this.#trusted;
    await this.#checkAgainstTrusted(head);
    await this.#checkAgainstApplied(head);
    await this.#catchUp(head);
    // An old head replayed (by a stale server or someone in between) proves nothing new about
    // freshness: only a later `time` moves the lease that nodes fence on.
    if (old && head.size === old.size && head.time <= old.time && this.#verifiedAt > 0) return old;
    await this.#saveTrusted(head);
    this.#trusted = head;
    this.#verifiedAt = this.#clock.now();
    return head;
  }

  /** Records signed evidence that this ledger cannot be trusted: every later use fails with it. */
  #hard(
    code: 'LEDGER_FORK' | 'LEDGER_ENTRY_REFUSED' | 'LEDGER_SPLIT_VIEW',
    message: string,
    cause?: unknown,
  ): never {
    this.#failure = new VdcError(code, message, cause === undefined ? undefined : { cause });
    throw this.#failure;
  }

  /** Rollback and fork checks of a new head against the newest one verified. */
  async #checkAgainstTrusted(head: SignedHead): Promise<void> {
    const old = this.#trusted;
    if (!old) return;
    if (head.size < old.size) {
      // Not final: an old signed head replayed by someone in between looks the same.
      fail(
        'LEDGER_ROLLBACK',
        `the ledger at ${this.url} presents a head of size ${head.size} (root ${head.root}), smaller than the verified head of size ${old.size} (root ${old.root}): refused; the verified head stays`,
      );
    }
    if (head.size === old.size) {
      if (head.root !== old.root) this.#fork(old, head, 'same size, another root');
      if (head.time < old.time)
        fail(
          'LEDGER_HEAD_STALE',
          `the ledger at ${this.url} presents a head signed at ${new Date(head.time).toISOString()}, older than the verified one (${new Date(old.time).toISOString()}): a replayed head proves nothing fresh`,
        );
      return;
    }
    if (old.size === 0) return;
    const proof = parseConsistencyProof(
      await this.#get(`/v1/proofs/consistency?from=${old.size}&to=${head.size}`),
    );
    // A proof is not signed: one that fails may have been altered on the way, so the head is
    // refused but the follower is not condemned. Two signed heads of one size that differ are.
    try {
      if (proof.oldSize !== old.size || proof.newSize !== head.size)
        throw new Error('the consistency proof is for other sizes');
      verifyConsistency(proof, Buffer.from(old.root, 'hex'), Buffer.from(head.root, 'hex'));
    } catch (cause) {
      fail(
        'LEDGER_FORK',
        `the ledger at ${this.url} served head (size ${head.size}, root ${head.root}) without a valid proof that it extends the verified head (size ${old.size}, root ${old.root}): ${(cause as Error).message}; refused`,
        cause,
      );
    }
  }

  /**
   * Leaves applied past the trusted head (a sync that failed after applying them, or whose
   * head could not be saved) were proven against a head this ledger signed. A new head that
   * ends among them is checked against them, not only against the trusted head: catching up
   * would apply nothing, so nothing else would see that it is another history.
   */
  async #checkAgainstApplied(head: SignedHead): Promise<void> {
    const applied = this.#tree.size;
    if (head.size <= (this.#trusted?.size ?? 0) || head.size > applied) return;
    const ours = toHex(await this.#tree.root(head.size));
    if (ours !== head.root)
      this.#hard(
        'LEDGER_FORK',
        `the ledger at ${this.url} signed head (size ${head.size}, root ${head.root}), but the leaves it served and proved before under another of its heads have root ${ours} at that size: it signed two histories; keep the head as evidence`,
      );
  }

  #fork(old: SignedHead, head: SignedHead, why: string): never {
    this.#hard(
      'LEDGER_FORK',
      `the ledger at ${this.url} signed two histories: head (size ${old.size}, root ${old.root}) and head (size ${head.size}, root ${head.root}) are not one log (${why}); keep both heads as evidence`,
    );
  }

  /** Fetches, proves and applies leaves from the projection's size up to `head`. */
  async #catchUp(head: SignedHead): Promise<void> {
    const target = Buffer.from(head.root, 'hex');
    while (this.#projection.size < head.size) {
      const from = this.#projection.size;
      const page = await this.#entries(from, Math.min(PAGE, head.size - from));
      if (page.length === 0)
        fail(
          'LEDGER_REWRITTEN',
          `the ledger at ${this.url} signed a head of size ${head.size} but serves no leaf ${from}`,
        );
      const frontier = this.#frontier.clone();
      const hashes = page.map((leaf, i) => {
        const encoded = encodeServedLeaf(this.url, leaf);
        if (encoded.seq !== from + i)
          fail(
            'LEDGER_REWRITTEN',
            `the ledger at ${this.url} served leaf ${encoded.seq} where leaf ${from + i} belongs`,
          );
        frontier.append(encoded.hash);
        return encoded.hash;
      });
      await this.#provePrefix(frontier, head, target);
      for (const [i, leaf] of page.entries()) {
        if (leaf.acceptedAt > head.time)
          this.#hard(
            'LEDGER_ENTRY_REFUSED',
            `the ledger at ${this.url} signed head (size ${head.size}, root ${head.root}) at ${new Date(head.time).toISOString()} over leaf ${leaf.seq}, which it says it accepted later (${new Date(leaf.acceptedAt).toISOString()}): its times are not to be trusted`,
          );
        try {
          this.#remember(leaf.seq, this.#projection.apply(leaf).created);
        } catch (cause) {
          this.#hard(
            'LEDGER_ENTRY_REFUSED',
            `the ledger at ${this.url} signed head (size ${head.size}, root ${head.root}) over leaf ${leaf.seq}, which the rules refuse (${(cause as VdcError).code}: ${(cause as Error).message})`,
            cause,
          );
        }
        this.#tree.appendHash(hashes[i]!);
        await this.#checkReportedHead(leaf, head);
      }
      this.#frontier = frontier;
    }
  }

  /** Proves that the leaves in `frontier` are a prefix of the log `head` signs. */
  async #provePrefix(frontier: MerkleFrontier, head: SignedHead, target: Buffer): Promise<void> {
    const root = frontier.root();
    if (frontier.size === head.size) {
      if (!root.equals(target))
        fail(
          'LEDGER_REWRITTEN',
          `the leaves served by ${this.url} hash to root ${toHex(root)}, but its signed head of size ${head.size} has root ${head.root}: the log was rewritten`,
        );
      return;
    }
    const proof = parseConsistencyProof(
      await this.#get(`/v1/proofs/consistency?from=${frontier.size}&to=${head.size}`),
    );
    try {
      if (proof.oldSize !== frontier.size || proof.newSize !== head.size)
        throw new Error('the proof is for other sizes');
      verifyConsistency(proof, root, target);
    } catch (cause) {
      fail(
        'LEDGER_REWRITTEN',
        `the first ${frontier.size} leaves served by ${this.url} (root ${toHex(root)}) are not a prefix of its signed head (size ${head.size}, root ${head.root}): the log was rewritten`,
        cause,
      );
    }
  }

  #remember(seq: number, created: Record<string, number>): void {
    this.#created.set(seq, created);
    if (this.#created.size > RECENT_CREATED)
      this.#created.delete(this.#created.keys().next().value!);
  }

  /** The ids leaf `seq` created, as this follower's own rules computed them (recent leaves only). */
  createdBy(seq: number): Record<string, number> | undefined {
    return this.#created.get(seq);
  }

  /** Gossip: a head a node reports must match this follower's own tree at that size. */
  async #checkReportedHead(leaf: Leaf, head: SignedHead): Promise<void> {
    const tx = leaf.tx as {
      type?: unknown;
      body?: { head?: { size: number; root: string } | null };
    };
    const reported = tx.type === 'node.report' ? tx.body?.head : undefined;
    if (!reported || reported.size === 0) return;
    const ours = toHex(await this.#tree.root(reported.size));
    if (ours !== reported.root) {
      this.#hard(
        'LEDGER_SPLIT_VIEW',
        `leaf ${leaf.seq}: a node verified a head of size ${reported.size} with root ${reported.root}, but this log has root ${ours} at that size (current head size ${head.size}, root ${head.root}): the ledger shows different histories to different parties`,
      );
    }
  }

  async #entries(from: number, limit: number): Promise<Leaf[]> {
    const body = await this.#get(`/v1/entries?from=${from}&limit=${limit}`);
    const entries =
      typeof body === 'object' && body !== null && !Array.isArray(body)
        ? body['entries']
        : undefined;
    if (!Array.isArray(entries) || entries.length > limit)
      fail(
        'PEER_PROTOCOL',
        `${this.url}/v1/entries did not answer {entries: [...]} of at most ${limit} leaves`,
      );
    return entries as unknown as Leaf[];
  }

  /**
   * Checks that `leaf` is, byte for byte, entry `leaf.seq` of the verified log.
   * @throws VdcError LOG_SIZE_EXCEEDED (not verified yet), LEDGER_REWRITTEN
   */
  async proveLeaf(leaf: Leaf): Promise<void> {
    const size = this.#tree.size;
    if (!Number.isSafeInteger(leaf.seq) || leaf.seq < 0 || leaf.seq >= size)
      fail(
        'LOG_SIZE_EXCEEDED',
        `leaf ${leaf.seq} is beyond the ${size} leaves verified so far: sync first`,
      );
    try {
      const proof = await this.#tree.inclusionProof(leaf.seq, size);
      verifyInclusion(proof, encodeServedLeaf(this.url, leaf).hash, await this.#tree.root(size));
    } catch (cause) {
      fail(
        'LEDGER_REWRITTEN',
        `the ledger at ${this.url} served leaf ${leaf.seq} with other content than the verified log holds`,
        cause,
      );
    }
  }

  #get(path: string) {
    return httpJson(`${this.url}${path}`, { timeoutMs: this.#timeoutMs });
  }

  /**
   * Follows the ledger's event stream, syncing to every head it announces, until `signal`
   * aborts or a hard error occurs (then it rejects with it). Anything else — a dropped or
   * silent stream (no event for `idleMs`), a refused answer — reconnects with backoff;
   * `onHead` is called after each verified head.
   */
  async follow(
    signal: AbortSignal,
    onHead?: (head: SignedHead) => void,
    onError?: (err: VdcError) => void,
    idleMs = 30_000,
  ): Promise<void> {
    let backoff = 100;
    while (!signal.aborted) {
      const idle = new AbortController();
      let timer = setTimeout(() => idle.abort(), idleMs);
      try {
        // No `from`: the stream starts at the current head; leaves come through sync().
        const res = await fetch(`${this.url}/v1/stream`, {
          signal: AbortSignal.any([signal, idle.signal]),
        });
        if (!res.ok || !res.body)
          fail('PEER_PROTOCOL', `${this.url}/v1/stream answered ${res.status}`);
        for await (const event of readEvents(res.body)) {
          clearTimeout(timer);
          timer = setTimeout(() => idle.abort(), idleMs);
          if (event.event !== 'head') continue;
          // Not `onHead?.(await …)`: optional chaining would skip the sync when there is no onHead.
          const head = await this.sync(parseJson(event.data));
          onHead?.(head);
          backoff = 100;
        }
        fail('PEER_UNREACHABLE', `${this.url}/v1/stream ended`);
      } catch (err) {
        if (signal.aborted) return;
        if (this.#failure) throw this.#failure;
        onError?.(asVdcError(err));
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, 5000);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /**
   * Compares what the server says about a record with the follower's own projection.
   * @throws VdcError LEDGER_STATE_MISMATCH when the server's answer contradicts the log
   */
  crossCheck(what: string, serverAnswer: unknown, own: unknown): void {
    if (canonicalize(serverAnswer ?? null) !== canonicalize(own ?? null)) {
      fail(
        'LEDGER_STATE_MISMATCH',
        `the ledger at ${this.url} says ${what} is ${JSON.stringify(serverAnswer)?.slice(0, 200)}, but its own verified log says ${JSON.stringify(own ?? null).slice(0, 200)}: believe the log`,
      );
    }
  }

  #loadTrusted(): SignedHead | undefined {
    if (!this.#stateFile || !existsSync(this.#stateFile)) return undefined;
    try {
      return verifyHead(parseJson(readFileSync(this.#stateFile)), this.ledgerKey);
    } catch (cause) {
      throw new VdcError(
        'LEDGER_HEAD_INVALID',
        `${this.#stateFile} does not hold a head signed by the pinned ledger key: remove it only if you know why it changed`,
        { cause },
      );
    }
  }

  /** @throws VdcError FILE_WRITE_FAILED */
  async #saveTrusted(head: SignedHead): Promise<void> {
    if (!this.#stateFile) return;
    const dir = dirname(this.#stateFile);
    // Made on every save, not once: a folder removed while the follower runs comes back.
    await mkdir(dir, { recursive: true, mode: 0o700 }).catch((cause: unknown) =>
      fail(
        'FILE_WRITE_FAILED',
        `could not create ${dir} for the verified ledger head: ${(cause as Error).message}; check the path is a writable folder`,
        cause,
      ),
    );
    await writeFileAtomicAsync(this.#stateFile, `${JSON.stringify(head)}\n`, 0o600);
  }
}

/** A leaf as served, checked to be exactly a leaf, with its hash. @throws VdcError PEER_PROTOCOL */
function encodeServedLeaf(url: string, leaf: unknown): EncodedLeaf {
  try {
    return encodeLeaf(leaf as Leaf);
  } catch (cause) {
    fail(
      'PEER_PROTOCOL',
      `${url} served a leaf that is not one: ${(cause as Error).message}`,
      cause,
    );
  }
}

function sameHead(a: SignedHead, b: unknown): boolean {
  const h = b as Partial<SignedHead> | null;
  return (
    typeof h === 'object' &&
    h !== null &&
    h.size === a.size &&
    h.root === a.root &&
    h.time === a.time
  );
}
