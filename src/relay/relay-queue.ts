import { fail } from '../core/assert.ts';
import type { Clock } from '../core/clock.ts';

/*
 * Envelopes held for twins that are offline or not reading (DESIGN §6): in memory, lost on
 * restart by design (senders retry and time out), and bounded three ways so no sender can
 * make the relay hold more than it chose to: per recipient by count and bytes, overall by
 * bytes, and in time by the envelope's own expiry or `maxAgeMs`, whichever comes first.
 */

export interface QueueLimits {
  maxPerTwin: number;
  maxBytesPerTwin: number;
  maxBytes: number;
  maxAgeMs: number;
}

export const DEFAULT_QUEUE_LIMITS: QueueLimits = {
  maxPerTwin: 256,
  maxBytesPerTwin: 4 * 1024 * 1024,
  maxBytes: 64 * 1024 * 1024,
  maxAgeMs: 5 * 60_000,
};

export interface QueuedEnvelope {
  id: string;
  /** The deliver frame, encoded once. */
  frame: string;
  bytes: number;
  until: number;
}

interface TwinQueue {
  items: QueuedEnvelope[];
  bytes: number;
}

export class RelayQueue {
  readonly limits: QueueLimits;
  readonly #clock: Clock;
  readonly #queues = new Map<number, TwinQueue>();
  #bytes = 0;
  #count = 0;

  constructor(limits: QueueLimits, clock: Clock) {
    this.limits = limits;
    this.#clock = clock;
  }

  /**
   * Holds a deliver frame for `twin` until it connects.
   * @throws VdcError RELAY_QUEUE_FULL naming the bound that was reached
   */
  push(twin: number, id: string, frame: string, expires: number): void {
    const bytes = Buffer.byteLength(frame);
    const q = this.#queues.get(twin) ?? { items: [], bytes: 0 };
    this.#dropExpired(twin, q);
    const full = (what: string): never =>
      fail(
        'RELAY_QUEUE_FULL',
        `twin ${twin} is offline and ${what}: the envelope was not queued; retry later`,
      );
    if (q.items.length >= this.limits.maxPerTwin)
      full(`already has ${q.items.length} envelopes waiting (the most a twin may have)`);
    if (q.bytes + bytes > this.limits.maxBytesPerTwin)
      full(`its queue would exceed ${this.limits.maxBytesPerTwin} bytes`);
    if (this.#bytes + bytes > this.limits.maxBytes) {
      this.sweep();
      if (this.#bytes + bytes > this.limits.maxBytes)
        full(`the relay's queues already hold ${this.#bytes} of ${this.limits.maxBytes} bytes`);
    }
    const until = Math.min(expires, this.#clock.now() + this.limits.maxAgeMs);
    q.items.push({ id, frame, bytes, until });
    q.bytes += bytes;
    this.#bytes += bytes;
    this.#count++;
    this.#queues.set(twin, q);
  }

  /** Removes and returns what waits for `twin`, oldest first, without what has expired. */
  take(twin: number): QueuedEnvelope[] {
    const q = this.#queues.get(twin);
    if (!q) return [];
    this.#dropExpired(twin, q);
    this.#queues.delete(twin);
    this.#bytes -= q.bytes;
    this.#count -= q.items.length;
    return q.items;
  }

  /** Puts back, at the front, what could not be delivered after `take`. */
  putBack(twin: number, items: QueuedEnvelope[]): void {
    if (items.length === 0) return;
    const q = this.#queues.get(twin) ?? { items: [], bytes: 0 };
    const bytes = items.reduce((n, i) => n + i.bytes, 0);
    q.items.unshift(...items);
    q.bytes += bytes;
    this.#bytes += bytes;
    this.#count += items.length;
    this.#queues.set(twin, q);
  }

  /** How many envelopes wait for `twin`. */
  waiting(twin: number): number {
    return this.#queues.get(twin)?.items.length ?? 0;
  }

  twinsWaiting(): number[] {
    return [...this.#queues.keys()];
  }

  /** Drops every expired envelope; returns how many. */
  sweep(): number {
    let dropped = 0;
    for (const [twin, q] of this.#queues) dropped += this.#dropExpired(twin, q);
    return dropped;
  }

  #dropExpired(twin: number, q: TwinQueue): number {
    const now = this.#clock.now();
    const live = q.items.filter((i) => i.until > now);
    const dropped = q.items.length - live.length;
    if (dropped === 0) return 0;
    const freed = q.bytes - live.reduce((n, i) => n + i.bytes, 0);
    q.items = live;
    q.bytes -= freed;
    this.#bytes -= freed;
    this.#count -= dropped;
    if (live.length === 0) this.#queues.delete(twin);
    return dropped;
  }

  stats(): { twins: number; envelopes: number; bytes: number } {
    return { twins: this.#queues.size, envelopes: this.#count, bytes: this.#bytes };
  }
}
