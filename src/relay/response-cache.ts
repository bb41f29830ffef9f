import type { Envelope } from './envelope.ts';

/*
 * The responses a twin sent, kept until the request they answer expires (docs/relay.md,
 * client library). A requester sends a request again when the relay that carried it dropped
 * before the response came back; the receiver refuses the second copy as a replay, so the
 * handler does not run twice, and the response already sealed is sent again instead: a
 * response lost with a relay is recovered, and a request is still answered once.
 */

interface Entry {
  response: Envelope;
  until: number;
}

export class ResponseCache {
  readonly #max: number;
  readonly #entries = new Map<string, Entry>();

  constructor(max = 1000) {
    this.#max = max;
  }

  static key(from: number, requestId: string): string {
    return `${from}:${requestId}`;
  }

  /** Keeps `response` to the request `key` until `until` (ms), dropping the oldest past `max`. */
  put(key: string, response: Envelope, until: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { response, until });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  /** The response to request `key`, if it was answered and has not expired. */
  get(key: string, now: number): Envelope | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.until <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.response;
  }

  get size(): number {
    return this.#entries.size;
  }
}
