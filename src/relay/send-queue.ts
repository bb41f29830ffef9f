import type { Clock } from '../core/clock.ts';
import { VdcError } from '../core/errors.ts';
import type { Envelope } from './envelope.ts';
import type { SendStatus } from './relay-frames.ts';
import type { RelayLink } from './relay-link.ts';

/*
 * The client's envelopes on their way to a relay (docs/relay.md, client library): held
 * while no relay is connected, sent on the link `pick` names (the first healthy relay),
 * sent again on another link after theirs dropped (the receiver drops duplicates by id),
 * each settled by the relay's answer or its own timeout. Bounded, so a caller sending into
 * a dead relay gets RELAY_SEND_QUEUE_FULL, not a leak.
 *
 * Paced: at most `window` envelopes wait for the relay's answer at once, and when the relay
 * answers RELAY_RATE_LIMITED the queue pauses (250 ms doubling to 5 s), then goes on with a
 * window of one that grows with each envelope taken. So this client slows down when told,
 * and never reaches the relay's hard bound, which would cost it its connection.
 */

interface PendingSend {
  envelope: Envelope;
  /** The link carrying it now, if any. */
  on: RelayLink | undefined;
  rateLimited: boolean;
  resolve: (sent: { status: SendStatus; via: string }) => void;
  reject: (err: VdcError) => void;
  deadline: number;
  timer: NodeJS.Timeout;
}

export interface SendQueueOptions {
  /** The relay(s), for messages. */
  describe: () => string;
  clock: Clock;
  max: number;
  /** Most envelopes awaiting the relay's answer at once; default 64. */
  window?: number;
  /** The link to send an envelope for twin `to` on now, if any is up. */
  pick: (to: number) => RelayLink | undefined;
  /** The error for a send that waited its whole timeout without a link. */
  unavailable: (when: string) => VdcError;
}

const PAUSE_MIN_MS = 250;
const PAUSE_MAX_MS = 5000;

export class SendQueue {
  readonly #opts: SendQueueOptions;
  readonly #sends = new Map<string, PendingSend>();
  readonly #maxWindow: number;
  #window: number;
  #inFlight = 0;
  #pausedUntil = 0;
  #pause = PAUSE_MIN_MS;
  #resume: NodeJS.Timeout | undefined;
  readonly counters = { rateLimited: 0 };

  constructor(opts: SendQueueOptions) {
    this.#opts = opts;
    this.#maxWindow = opts.window ?? 64;
    this.#window = this.#maxWindow;
  }

  get size(): number {
    return this.#sends.size;
  }

  /**
   * Resolves with the relay's answer for `envelope` and the relay that gave it.
   * @throws VdcError RELAY_SEND_QUEUE_FULL, ENVELOPE_REPLAYED (already on its way),
   * RELAY_SEND_TIMEOUT, RELAY_RATE_LIMITED, RELAY_UNAVAILABLE, or the relay's refusal
   */
  add(envelope: Envelope, timeoutMs: number): Promise<{ status: SendStatus; via: string }> {
    const { max } = this.#opts;
    if (this.#sends.size >= max)
      return Promise.reject(
        new VdcError(
          'RELAY_SEND_QUEUE_FULL',
          `${this.#sends.size} sends already wait for ${this.#opts.describe()}; slow down or retry later`,
        ),
      );
    if (this.#sends.has(envelope.id))
      return Promise.reject(
        new VdcError('ENVELOPE_REPLAYED', `envelope ${envelope.id} is already on its way`),
      );
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#timeout(envelope.id, timeoutMs), timeoutMs);
      this.#sends.set(envelope.id, {
        envelope,
        on: undefined,
        rateLimited: false,
        resolve,
        reject,
        deadline: this.#opts.clock.now() + timeoutMs,
        timer,
      });
      this.flush();
    });
  }

  #timeout(id: string, timeoutMs: number): void {
    const p = this.#sends.get(id);
    if (!p) return;
    const where = this.#opts.describe();
    this.#settle(
      id,
      p.rateLimited
        ? new VdcError(
            'RELAY_RATE_LIMITED',
            `${where} kept refusing envelope ${id} as over its rate limit for ${timeoutMs} ms: send less often`,
          )
        : p.on || this.#opts.pick(p.envelope.to)
          ? new VdcError(
              'RELAY_SEND_TIMEOUT',
              `${where} did not acknowledge envelope ${id} within ${timeoutMs} ms`,
            )
          : this.#opts.unavailable(`for the ${timeoutMs} ms envelope ${id} could wait`),
    );
  }

  /** Sends, in order, what is not on a link yet, on the link `pick` names, within the window. */
  flush(): void {
    const now = this.#opts.clock.now();
    if (now < this.#pausedUntil) {
      // Timers may fire a little early by this clock: wait out the rest of the pause.
      this.#resumeIn(this.#pausedUntil - now);
      return;
    }
    for (const p of this.#sends.values()) {
      if (this.#inFlight >= this.#window) return;
      if (p.on) continue;
      const link = this.#opts.pick(p.envelope.to);
      if (!link) return;
      p.on = link;
      this.#inFlight++;
      link.send(p.envelope, Math.max(1, p.deadline - this.#opts.clock.now())).then(
        (status) => {
          this.#landed(p, link);
          if (this.#window < this.#maxWindow) this.#window++;
          this.#pause = PAUSE_MIN_MS;
          this.#settle(p.envelope.id, { status, via: link.url });
          this.flush();
        },
        (err: VdcError) => {
          this.#landed(p, link);
          if (err.code === 'RELAY_UNAVAILABLE' || err.code === 'RELAY_CLIENT_CLOSED') {
            // A dropped connection (or one to a relay the twin no longer lists) is not the
            // envelope's fault: send it again, on another relay if one is up. (When the
            // whole client closes, failAll has settled every send already.)
          } else if (err.code === 'RELAY_RATE_LIMITED') {
            p.rateLimited = true;
            this.#slowDown();
          } else {
            this.#settle(p.envelope.id, err);
          }
          this.flush();
        },
      );
    }
  }

  #landed(p: PendingSend, link: RelayLink): void {
    if (p.on !== link) return; // already released by linkDropped
    p.on = undefined;
    this.#inFlight--;
  }

  /** The relay said slow down: pause, then go on one envelope at a time, growing again. */
  #slowDown(): void {
    this.counters.rateLimited++;
    this.#window = 1;
    const now = this.#opts.clock.now();
    if (now < this.#pausedUntil) return; // the answers of one burst count once
    this.#pausedUntil = now + this.#pause * (0.75 + Math.random() / 2);
    this.#pause = Math.min(PAUSE_MAX_MS, this.#pause * 2);
    this.#resumeIn(this.#pausedUntil - now);
  }

  #resumeIn(ms: number): void {
    clearTimeout(this.#resume);
    this.#resume = setTimeout(() => {
      this.#resume = undefined;
      this.flush();
    }, ms + 1);
    this.#resume.unref(); // the sends' own timers keep the process alive while they wait
  }

  /** `link` dropped: whatever it carried unanswered goes again, on the next link up. */
  linkDropped(link: RelayLink): void {
    for (const p of this.#sends.values())
      if (p.on === link) {
        p.on = undefined;
        this.#inFlight--;
      }
    this.flush();
  }

  failAll(err: VdcError): void {
    clearTimeout(this.#resume);
    for (const id of [...this.#sends.keys()]) this.#settle(id, err);
  }

  #settle(id: string, result: { status: SendStatus; via: string } | VdcError): void {
    const p = this.#sends.get(id);
    if (!p) return;
    this.#sends.delete(id);
    if (p.on) {
      p.on = undefined;
      this.#inFlight--;
    }
    clearTimeout(p.timer);
    if (result instanceof VdcError) p.reject(result);
    else p.resolve(result);
  }
}
