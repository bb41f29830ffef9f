import type { Clock } from '../core/clock.ts';

/*
 * Per-connection rate limits of the relay (docs/relay.md, "Rate limits"). Two token buckets
 * per connection, each over messages and bytes: the soft one admits frames (a frame past it
 * is refused with RELAY_RATE_LIMITED and costs the relay no signature check), the hard one,
 * `hardFactor` times larger in rate and burst, counts every frame, admitted or not; a
 * connection past it keeps sending without slowing down and is closed. A client that backs
 * off when refused (ours does) stays well inside the hard bound, however hard it pushes.
 */

export interface RateLimits {
  /** Sustained envelopes (frames) per second a connection may send. */
  rateMessagesPerSecond: number;
  /** Frames a connection may send at once after being idle. */
  rateBurstMessages: number;
  /** Sustained bytes per second. */
  rateBytesPerSecond: number;
  /** Bytes at once; at least one frame of the largest size, so any frame can pass. */
  rateBurstBytes: number;
  /** The hard bound (frames refused or not) is this many times the soft one. */
  rateHardFactor: number;
  /** A peer relay carries many twins' envelopes: its bounds are this many times a twin's. */
  ratePeerFactor: number;
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  rateMessagesPerSecond: 500,
  rateBurstMessages: 1000,
  rateBytesPerSecond: 4 * 1024 * 1024,
  rateBurstBytes: 16 * 1024 * 1024,
  rateHardFactor: 2,
  ratePeerFactor: 10,
};

/** A token bucket: `burst` tokens at most, refilled at `rate` per second of `clock` time. */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #at: number;

  constructor(rate: number, burst: number, clock: Clock) {
    this.#rate = rate;
    this.#burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#at = clock.now();
  }

  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  #refill(): void {
    const now = this.#clock.now();
    // A clock stepping back must not drain the bucket, nor a jump forward overfill it.
    if (now > this.#at)
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#rate);
    this.#at = now;
  }

  /** Takes `n` tokens if there are that many; otherwise takes none. */
  take(n: number): boolean {
    this.#refill();
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  /** Takes `n` tokens, going below zero if need be (debt is repaid by the refill). */
  charge(n: number): void {
    this.#refill();
    this.#tokens -= n;
  }
}

export type RateVerdict = 'admit' | 'refuse' | 'close';

/** The rate state of one connection. */
export class ConnectionRate {
  readonly #messages: TokenBucket;
  readonly #bytes: TokenBucket;
  readonly #hardMessages: TokenBucket;
  readonly #hardBytes: TokenBucket;
  refused = 0;

  constructor(limits: RateLimits, clock: Clock, factor = 1) {
    const l = limits;
    const hard = factor * l.rateHardFactor;
    this.#messages = new TokenBucket(
      factor * l.rateMessagesPerSecond,
      factor * l.rateBurstMessages,
      clock,
    );
    this.#bytes = new TokenBucket(factor * l.rateBytesPerSecond, factor * l.rateBurstBytes, clock);
    this.#hardMessages = new TokenBucket(
      hard * l.rateMessagesPerSecond,
      hard * l.rateBurstMessages,
      clock,
    );
    this.#hardBytes = new TokenBucket(hard * l.rateBytesPerSecond, hard * l.rateBurstBytes, clock);
  }

  /** Decides on one frame of `bytes` bytes. */
  check(bytes: number): RateVerdict {
    // The hard buckets count every frame; past them the sender is not listening to refusals.
    const withinHard = this.#hardMessages.take(1);
    this.#hardBytes.charge(bytes);
    if (!withinHard || this.#hardBytes.tokens < 0) return 'close';
    if (this.#messages.tokens >= 1 && this.#bytes.tokens >= bytes) {
      this.#messages.take(1);
      this.#bytes.take(bytes);
      return 'admit';
    }
    this.refused++;
    return 'refuse';
  }
}

/**
 * Checks limits given from outside (flags, options) hold together.
 * @returns the first problem, or null
 */
export function rateLimitsProblem(l: RateLimits, maxFrameBytes: number): string | null {
  for (const key of Object.keys(DEFAULT_RATE_LIMITS) as (keyof RateLimits)[]) {
    const v = l[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      return `'${key}' must be a positive number, got ${String(v)}`;
  }
  if (l.rateBurstMessages < 1) return `'rateBurstMessages' must be at least 1`;
  if (l.rateBurstBytes < maxFrameBytes)
    return `'rateBurstBytes' must be at least the frame size limit (${maxFrameBytes}), or a frame of that size could never pass`;
  if (l.rateHardFactor < 1) return `'rateHardFactor' must be at least 1`;
  if (l.ratePeerFactor < 1) return `'ratePeerFactor' must be at least 1`;
  return null;
}
