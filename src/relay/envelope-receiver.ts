import { fail } from '../core/assert.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { type Envelope, parseEnvelope } from './envelope.ts';
import {
  assertEnvelopeSignature,
  decryptEnvelope,
  type EnvelopeIdentity,
} from './envelope-crypto.ts';
import { ReplayStore } from './replay-store.ts';
import type { DirectoryTwin, TwinDirectory } from './twin-directory.ts';

/** Longest an envelope may live: receivers refuse expiries further out than this. */
export const DEFAULT_MAX_LIFETIME_MS = 5 * 60_000;
/** How far ahead of the receiver's clock a sender's clock may run. */
export const DEFAULT_CLOCK_SKEW_MS = 30_000;

export interface TimeLimits {
  maxLifetimeMs: number;
  skewMs: number;
}

/**
 * Refuses an expired envelope, and one whose expiry lies beyond the cap: a far expiry would
 * oblige every receiver to remember its id for that long.
 * @throws VdcError ENVELOPE_EXPIRED, ENVELOPE_EXPIRY_TOO_FAR
 */
export function assertEnvelopeTime(envelope: Envelope, now: number, limits: TimeLimits): void {
  if (envelope.expires <= now)
    fail(
      'ENVELOPE_EXPIRED',
      `envelope ${envelope.id} expired at ${new Date(envelope.expires).toISOString()}: send a fresh one`,
    );
  if (envelope.expires > now + limits.maxLifetimeMs + limits.skewMs)
    fail(
      'ENVELOPE_EXPIRY_TOO_FAR',
      `envelope ${envelope.id} expires ${envelope.expires - now} ms from now; at most ${limits.maxLifetimeMs} ms are accepted`,
    );
}

export interface EnvelopeReceiverOptions {
  /** The receiving twin's keys. */
  identity: EnvelopeIdentity;
  /** The receiving twin's id. */
  twin: number;
  directory: TwinDirectory;
  /** Where seen envelope ids are kept across restarts. */
  dataDir: string;
  clock?: Clock;
  maxLifetimeMs?: number;
  skewMs?: number;
  maxSeen?: number;
}

export interface OpenedEnvelope {
  envelope: Envelope;
  sender: DirectoryTwin;
  payload: Buffer;
}

/**
 * The only way a twin accepts an envelope: it checks, in order, the shape, that it is for
 * this twin, that its sender is a known twin whose signature holds, its expiry and cap, that
 * its id was not seen before, and only then decrypts and records the id durably.
 */
export class EnvelopeReceiver {
  readonly twin: number;
  readonly #identity: EnvelopeIdentity;
  readonly #directory: TwinDirectory;
  readonly #clock: Clock;
  readonly #limits: TimeLimits;
  readonly #seen: ReplayStore;

  constructor(opts: EnvelopeReceiverOptions) {
    this.twin = opts.twin;
    this.#identity = opts.identity;
    this.#directory = opts.directory;
    this.#clock = opts.clock ?? systemClock;
    this.#limits = {
      maxLifetimeMs: opts.maxLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS,
      skewMs: opts.skewMs ?? DEFAULT_CLOCK_SKEW_MS,
    };
    this.#seen = ReplayStore.open(opts.dataDir, {
      clock: this.#clock,
      ...(opts.maxSeen === undefined ? {} : { maxEntries: opts.maxSeen }),
    });
  }

  get limits(): TimeLimits {
    return this.#limits;
  }

  /**
   * Verifies and decrypts one envelope from the wire; resolves once its id is on disk.
   * @throws VdcError ENVELOPE_MALFORMED, ENVELOPE_TOO_LARGE, ENVELOPE_WRONG_RECIPIENT,
   * ENVELOPE_SENDER_UNKNOWN, ENVELOPE_SIGNATURE_INVALID, ENVELOPE_EXPIRED,
   * ENVELOPE_EXPIRY_TOO_FAR, ENVELOPE_REPLAYED, ENVELOPE_DECRYPT_FAILED, REPLAY_STORE_FULL
   */
  async open(value: unknown): Promise<OpenedEnvelope> {
    const envelope = parseEnvelope(value);
    if (envelope.to !== this.twin)
      fail(
        'ENVELOPE_WRONG_RECIPIENT',
        `envelope ${envelope.id} is for twin ${envelope.to}, not this twin (${this.twin})`,
      );
    const sender = this.#directory.twin(envelope.from);
    if (!sender)
      fail(
        'ENVELOPE_SENDER_UNKNOWN',
        `envelope ${envelope.id} names sender twin ${envelope.from}, which the ledger does not know`,
      );
    assertEnvelopeSignature(envelope, sender.signingKey);
    const now = this.#clock.now();
    assertEnvelopeTime(envelope, now, this.#limits);
    const key = `${envelope.from}:${envelope.id}`;
    if (this.#seen.has(key))
      fail(
        'ENVELOPE_REPLAYED',
        `envelope ${envelope.id} from twin ${envelope.from} was already received: a replay`,
      );
    const payload = decryptEnvelope(envelope, this.#identity);
    await this.#seen.add(key, envelope.expires);
    return { envelope, sender, payload };
  }

  close(): Promise<void> {
    return this.#seen.close();
  }
}
