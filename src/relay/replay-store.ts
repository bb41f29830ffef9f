import {
  closeSync,
  existsSync,
  fdatasync,
  mkdirSync,
  openSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/assert.ts';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { VdcError } from '../core/errors.ts';

/*
 * The ids of envelopes a receiver accepted, kept until they expire so a replay is refused
 * also after the receiver restarts (DESIGN §6). An append-only file of `KEY EXPIRES` lines,
 * synced before the envelope is handed on (group commit: one fdatasync covers every id
 * added while the previous one ran, so throughput does not stop at the disk's sync rate),
 * compacted (atomically rewritten with the live ids only) when the file has doubled since
 * its last compaction. Bounded: since every envelope expires
 * within the receiver's cap, the live set is bounded by rate x cap; past `maxEntries` new
 * envelopes are refused (REPLAY_STORE_FULL) rather than forgetting an unexpired id, which
 * would reopen the replay it guards.
 */

export const REPLAY_FILE = 'seen-envelopes.log';
const LINE = /^([0-9]{1,16}:[0-9a-f]{32}) ([0-9]{1,16})$/;

export interface ReplayStoreOptions {
  clock?: Clock;
  /** Most unexpired ids kept; default 100,000. */
  maxEntries?: number;
}

export class ReplayStore {
  readonly path: string;
  readonly #clock: Clock;
  readonly #max: number;
  readonly #seen = new Map<string, number>();
  #fd: number;
  #lines: number;
  #compactAt: number;
  #waiting: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  #syncing: Promise<void> | undefined;

  private constructor(path: string, clock: Clock, max: number) {
    this.path = path;
    this.#clock = clock;
    this.#max = max;
    this.#lines = this.#load();
    this.#compactAt = Math.max(1024, 2 * this.#seen.size);
    this.#fd = openSync(path, 'a', 0o600);
  }

  /**
   * Opens (creating) the store in `dir`.
   * @throws VdcError REPLAY_STORE_CORRUPT when the file holds a line it did not write
   */
  static open(dir: string, opts: ReplayStoreOptions = {}): ReplayStore {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return new ReplayStore(
      join(dir, REPLAY_FILE),
      opts.clock ?? systemClock,
      opts.maxEntries ?? 100_000,
    );
  }

  #load(): number {
    if (!existsSync(this.path)) return 0;
    const text = readFileSync(this.path, 'utf8');
    const lines = text.split('\n');
    const now = this.#clock.now();
    // The last piece is '' after a complete file; anything else there is a line torn by a
    // crash mid-append, which was never synced and so never acknowledged: drop it.
    lines.pop();
    lines.forEach((line, i) => {
      const m = LINE.exec(line);
      if (!m)
        fail(
          'REPLAY_STORE_CORRUPT',
          `${this.path} line ${i + 1} is not 'FROM:ID EXPIRES': the file was damaged; ` +
            'move it aside only if you accept that envelopes seen before may be accepted again',
        );
      const expires = Number(m[2]);
      if (expires > now) this.#seen.set(m[1]!, expires);
    });
    return lines.length;
  }

  /** Whether this key was accepted and has not yet expired. */
  has(key: string): boolean {
    const expires = this.#seen.get(key);
    return expires !== undefined && expires > this.#clock.now();
  }

  get size(): number {
    return this.#seen.size;
  }

  /**
   * Records a key until `expires`; `has` answers true at once, and the promise resolves
   * once the record is on disk.
   * @throws VdcError REPLAY_STORE_FULL; rejects with FILE_WRITE_FAILED
   */
  add(key: string, expires: number): Promise<void> {
    if (this.#seen.size >= this.#max) this.#prune();
    if (this.#seen.size >= this.#max)
      fail(
        'REPLAY_STORE_FULL',
        `this receiver already holds ${this.#max} unexpired envelope ids; try again once some expire`,
      );
    try {
      writeSync(this.#fd, `${key} ${expires}\n`);
    } catch (cause) {
      fail('FILE_WRITE_FAILED', `could not record envelope ${key} in ${this.path}`, cause);
    }
    this.#seen.set(key, expires);
    this.#lines++;
    const done = new Promise<void>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    this.#kick();
    return done;
  }

  #kick(): void {
    if (this.#syncing || this.#waiting.length === 0) return;
    const batch = this.#waiting.splice(0);
    this.#syncing = new Promise<void>((resolve) => {
      fdatasync(this.#fd, (err) => {
        this.#syncing = undefined;
        if (err) {
          const e = new VdcError(
            'FILE_WRITE_FAILED',
            `could not sync ${this.path}: ${err.message}`,
            { cause: err },
          );
          for (const w of batch) w.reject(e);
        } else {
          for (const w of batch) w.resolve();
          if (this.#lines > this.#compactAt) this.#compact();
        }
        resolve();
        this.#kick();
      });
    });
  }

  #prune(): void {
    const now = this.#clock.now();
    for (const [key, expires] of this.#seen) if (expires <= now) this.#seen.delete(key);
  }

  /** Runs only between syncs, so no fdatasync is in flight on the descriptor it replaces. */
  #compact(): void {
    this.#prune();
    let text = '';
    for (const [key, expires] of this.#seen) text += `${key} ${expires}\n`;
    closeSync(this.#fd);
    try {
      writeFileAtomic(this.path, text);
      this.#lines = this.#seen.size;
      this.#compactAt = Math.max(1024, 2 * this.#seen.size);
    } catch {
      // The old file is intact (atomic write) and holds every line, so appending to it stays
      // correct; compaction is retried after the file grows again.
      this.#compactAt = 2 * this.#lines;
    } finally {
      this.#fd = openSync(this.path, 'a', 0o600);
    }
  }

  /** Waits for pending records to reach the disk, then closes the file. */
  async close(): Promise<void> {
    while (this.#syncing) await this.#syncing;
    closeSync(this.#fd);
  }
}
