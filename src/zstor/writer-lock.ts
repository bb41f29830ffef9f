import { createHmac, randomBytes } from 'node:crypto';
import { fail } from '../core/assert.ts';
import type { ShardBackend } from './shard-backend.ts';

/*
 * One writer at a time per store (per meta key and backend list), so two writers never
 * lose each other's root update. zdb has no compare-and-set, so the lock is Fischer's
 * timed mutual exclusion run on every backend, held when a majority agree:
 *
 *   1. read the lock record on every backend; go on only when a majority are free (absent,
 *      ours, or seen unchanged for `ttlMs` on our own clock: a holder that stopped renewing)
 *   2. write our claim {owner, counter} to every backend, and only count it if acknowledged
 *      within `settleMs / 2` of the read (so it landed before anyone waiting settleMs looks)
 *   3. wait `settleMs`, read again: ours on a majority means held; else back off and retry.
 *
 * A claim written after reading "free" lands within settleMs, so of two writers racing on
 * one backend at most one reads its own claim back there; majorities intersect, so at most
 * one holds the lock. The holder renews (counter + 1) every ttlMs / 3 and, right before
 * saving the root, verifies that a majority still show its claim (a stalled process whose
 * lease was taken over gets ZSTOR_LOCK_LOST instead of overwriting the newer root).
 * Expiry is judged on the observer's clock from "unchanged for ttlMs", so clocks of
 * different machines need not agree. A crashed holder delays the next writer by ttlMs.
 * The record is 16 random owner bytes and a counter under a keyed-hash key: it names
 * nothing.
 */

export interface WriterLockOptions {
  /** A claim not renewed for this long is free (default 30 s). */
  readonly ttlMs?: number;
  /** Fischer's delay: claims land within settleMs / 2, then we wait settleMs (default 500 ms). */
  readonly settleMs?: number;
  /** Give up with ZSTOR_LOCKED after this long (default 2 × ttlMs + 5 s). */
  readonly waitMs?: number;
}

const RECORD_BYTES = 24;

/** The backend key of the writer lock record. */
export function lockKey(nameKey: Uint8Array): Buffer {
  return createHmac('sha256', nameKey).update('vdc/zstor/writer-lock/v1').digest();
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface HeldLock {
  /** @throws VdcError ZSTOR_LOCK_LOST when a majority of backends no longer show our claim */
  verify(): Promise<void>;
  /** Stops renewing and removes our claim where it is still ours (best effort). */
  release(): Promise<void>;
}

export class WriterLock {
  readonly #backends: readonly ShardBackend[];
  readonly #key: Buffer;
  readonly #ttl: number;
  readonly #settle: number;
  readonly #wait: number;
  /** Lock record → when we first saw it (our clock), to tell a dead holder's claim. */
  readonly #seen = new Map<string, number>();

  constructor(
    backends: readonly ShardBackend[],
    nameKey: Uint8Array,
    options: WriterLockOptions = {},
  ) {
    this.#backends = backends;
    this.#key = lockKey(nameKey);
    this.#ttl = options.ttlMs ?? 30_000;
    this.#settle = options.settleMs ?? 500;
    this.#wait = options.waitMs ?? 2 * this.#ttl + 5_000;
  }

  get #quorum(): number {
    return Math.floor(this.#backends.length / 2) + 1;
  }

  /** Each backend's record (hex), null when absent, undefined when it did not answer. */
  async #readAll(): Promise<(string | null | undefined)[]> {
    return Promise.all(
      this.#backends.map(async (b) => {
        try {
          const v = await b.get(this.#key);
          return v === undefined ? null : Buffer.from(v).toString('hex');
        } catch {
          return undefined; // an unreachable backend counts as neither free nor ours
        }
      }),
    );
  }

  #free(record: string | null | undefined, owner: string, now: number): boolean {
    if (record === undefined) return false;
    if (record === null || record.startsWith(owner)) return true;
    const first = this.#seen.get(record);
    if (first === undefined) {
      this.#seen.set(record, now);
      return false;
    }
    return now - first >= this.#ttl;
  }

  /**
   * Takes the lock, waiting for another writer to finish.
   * @throws VdcError ZSTOR_LOCKED when it stays held (or a majority of backends do not answer) for waitMs
   */
  async acquire(): Promise<HeldLock> {
    const owner = randomBytes(16);
    const ownerHex = owner.toString('hex');
    let counter = 0;
    const record = () => {
      const r = Buffer.alloc(RECORD_BYTES);
      owner.copy(r);
      r.writeBigUInt64BE(BigInt(++counter), 16);
      return r;
    };
    const ours = (records: readonly (string | null | undefined)[]) =>
      records.filter((r) => typeof r === 'string' && r.startsWith(ownerHex)).length;
    const deadline = performance.now() + this.#wait;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        if (performance.now() > deadline)
          fail(
            'ZSTOR_LOCKED',
            `another writer has held this store's lock for ${Math.round(this.#wait / 1000)} s (or too few backends answer): try again later; a crashed writer's lock frees itself after ${Math.round(this.#ttl / 1000)} s`,
          );
        await sleep(this.#settle / 2 + Math.random() * this.#settle);
      }
      const readAt = performance.now();
      const before = await this.#readAll();
      const now = performance.now();
      if (before.filter((r) => this.#free(r, ownerHex, now)).length < this.#quorum) continue;
      const claim = record();
      const landed = await Promise.all(
        this.#backends.map(async (b) => {
          try {
            await b.put(this.#key, [claim]);
            return performance.now() - readAt < this.#settle / 2;
          } catch {
            return false;
          }
        }),
      );
      if (landed.filter(Boolean).length < this.#quorum) continue;
      await sleep(this.#settle);
      if (ours(await this.#readAll()) < this.#quorum) continue;
      return this.#held(ownerHex, record, ours);
    }
  }

  #held(
    ownerHex: string,
    record: () => Buffer,
    ours: (records: readonly (string | null | undefined)[]) => number,
  ): HeldLock {
    let renewing: Promise<unknown> = Promise.resolve();
    const renew = setInterval(() => {
      const claim = record();
      // Renew only where the claim is still ours: never overwrite a successor's claim.
      renewing = this.#readAll().then((records) =>
        Promise.all(
          this.#backends.map((b, i) =>
            records[i]?.startsWith(ownerHex) ? b.put(this.#key, [claim]).catch(() => {}) : null,
          ),
        ),
      );
      renewing.catch(() => {});
    }, this.#ttl / 3);
    renew.unref();
    return {
      verify: async () => {
        await renewing.catch(() => {});
        if (ours(await this.#readAll()) < this.#quorum)
          fail(
            'ZSTOR_LOCK_LOST',
            `this writer's lock was taken over (it went ${Math.round(this.#ttl / 1000)} s without renewing, or backends lost it): nothing was committed; run the command again`,
          );
      },
      release: async () => {
        clearInterval(renew);
        await renewing.catch(() => {});
        const records = await this.#readAll();
        await Promise.all(
          this.#backends.map((b, i) =>
            records[i]?.startsWith(ownerHex) ? b.delete(this.#key).catch(() => false) : null,
          ),
        );
      },
    };
  }
}
