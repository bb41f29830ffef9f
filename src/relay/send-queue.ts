import type { Clock } from '../core/clock.ts';
import { VdcError } from '../core/errors.ts';
import type { Envelope } from './envelope.ts';
import type { SendStatus } from './relay-frames.ts';
import type { RelayLink } from './relay-link.ts';

/*
 * The client's envelopes on their way to the relay (docs/relay.md, client library): held
 * while the client reconnects, sent when a link is up, resent after the link drops (the
 * receiver drops duplicates by id), each settled by the relay's answer or its own timeout.
 * Bounded, so a caller sending into a dead relay gets RELAY_SEND_QUEUE_FULL, not a leak.
 */

interface PendingSend {
  envelope: Envelope;
  inFlight: boolean;
  resolve: (status: SendStatus) => void;
  reject: (err: VdcError) => void;
  deadline: number;
  timer: NodeJS.Timeout;
}

export interface SendQueueOptions {
  url: string;
  clock: Clock;
  max: number;
  /** Whether a link is up now: a timeout then means the relay did not answer. */
  connected: () => boolean;
  /** The error for a send that waited its whole timeout without a link. */
  unavailable: (when: string) => VdcError;
}

export class SendQueue {
  readonly #opts: SendQueueOptions;
  readonly #sends = new Map<string, PendingSend>();

  constructor(opts: SendQueueOptions) {
    this.#opts = opts;
  }

  get size(): number {
    return this.#sends.size;
  }

  /**
   * Resolves with the relay's answer for `envelope`.
   * @throws VdcError RELAY_SEND_QUEUE_FULL, ENVELOPE_REPLAYED (already on its way),
   * RELAY_SEND_TIMEOUT, RELAY_UNAVAILABLE, or the relay's refusal
   */
  add(envelope: Envelope, timeoutMs: number, link: RelayLink | undefined): Promise<SendStatus> {
    const { url, max } = this.#opts;
    if (this.#sends.size >= max)
      return Promise.reject(
        new VdcError(
          'RELAY_SEND_QUEUE_FULL',
          `${this.#sends.size} sends already wait for relay ${url}; slow down or retry later`,
        ),
      );
    if (this.#sends.has(envelope.id))
      return Promise.reject(
        new VdcError('ENVELOPE_REPLAYED', `envelope ${envelope.id} is already on its way`),
      );
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#settle(
          envelope.id,
          this.#opts.connected()
            ? new VdcError(
                'RELAY_SEND_TIMEOUT',
                `relay ${url} did not acknowledge envelope ${envelope.id} within ${timeoutMs} ms`,
              )
            : this.#opts.unavailable(`for the ${timeoutMs} ms envelope ${envelope.id} could wait`),
        );
      }, timeoutMs);
      this.#sends.set(envelope.id, {
        envelope,
        inFlight: false,
        resolve,
        reject,
        deadline: this.#opts.clock.now() + timeoutMs,
        timer,
      });
      this.flush(link);
    });
  }

  /** Sends, in order, everything not yet on `link`. */
  flush(link: RelayLink | undefined): void {
    if (!link?.isOpen) return;
    for (const p of this.#sends.values()) {
      if (p.inFlight) continue;
      p.inFlight = true;
      link.send(p.envelope, Math.max(1, p.deadline - this.#opts.clock.now())).then(
        (status) => this.#settle(p.envelope.id, status),
        (err: VdcError) => {
          // A dropped connection is not the envelope's fault: send it again after reconnecting.
          if (err.code === 'RELAY_UNAVAILABLE') p.inFlight = false;
          else this.#settle(p.envelope.id, err);
        },
      );
    }
  }

  /** The link dropped: whatever it carried unanswered goes again on the next one. */
  linkDropped(): void {
    for (const p of this.#sends.values()) p.inFlight = false;
  }

  failAll(err: VdcError): void {
    for (const id of [...this.#sends.keys()]) this.#settle(id, err);
  }

  #settle(id: string, result: SendStatus | VdcError): void {
    const p = this.#sends.get(id);
    if (!p) return;
    this.#sends.delete(id);
    clearTimeout(p.timer);
    if (result instanceof VdcError) p.reject(result);
    else p.resolve(result);
  }
}
