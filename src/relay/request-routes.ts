import type { Envelope } from './envelope.ts';
import type { SendStatus } from './relay-frames.ts';

/*
 * Requests on their way, with the relay that acknowledged each (docs/relay.md, "Several
 * relays"). A relay that drops after taking a request may have lost it, or the response:
 * the request goes again through the next relay up. If the first copy did arrive, the
 * responder drops the second as a duplicate and sends its response again (ResponseCache),
 * so the request is answered without being handled twice.
 */

interface Route {
  envelope: Envelope;
  /** The relay that acknowledged it; '' while not yet acknowledged. */
  via: string;
  deadline: number;
}

type Send = (envelope: Envelope, timeoutMs: number) => Promise<{ status: SendStatus; via: string }>;

export class RequestRoutes {
  readonly #routes = new Map<string, Route>();

  /** Sends a request and remembers which relay took it, until `forget`. */
  async send(envelope: Envelope, deadline: number, now: number, send: Send): Promise<void> {
    const route: Route = { envelope, via: '', deadline };
    this.#routes.set(envelope.id, route);
    try {
      route.via = (await send(envelope, deadline - now)).via;
    } catch (err) {
      this.#routes.delete(envelope.id);
      throw err;
    }
  }

  /** The request was answered (or given up): nothing to resend. */
  forget(id: string): void {
    this.#routes.delete(id);
  }

  /**
   * The relay at `url` dropped: sends again, through `send`, the requests it took.
   * @returns how many went again
   */
  resendVia(url: string, now: number, send: Send): number {
    let n = 0;
    for (const route of this.#routes.values()) {
      if (route.via !== url || route.deadline <= now) continue;
      route.via = '';
      n++;
      send(route.envelope, route.deadline - now).then(
        (sent) => {
          route.via = sent.via;
        },
        () => {}, // the request's own timeout reports the failure
      );
    }
    return n;
  }
}
