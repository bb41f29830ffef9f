import { setTimeout as sleep } from 'node:timers/promises';
import { asVdcError, type VdcError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Identity } from '../identity/index.ts';
import { RelayLink } from './relay-link.ts';

/*
 * A twin's connection to one relay, kept open (docs/relay.md, client library): it logs in,
 * and after every drop or failed attempt tries again with jittered exponential backoff, so
 * a relay restarting is not stampeded by its twins. A RelayClient holds one per relay; each
 * reconnects on its own.
 */

export interface RelayConnectionOptions {
  url: string;
  identity: Identity;
  twin: number;
  ledger: string;
  reconnect?: { minDelayMs?: number; maxDelayMs?: number };
  logger: Logger;
  onDeliver: (envelope: unknown) => void;
  /** The link is logged in and carries sends from now on. */
  onUp: (conn: RelayConnection) => void;
  /** The link dropped; what it carried unanswered must go again. */
  onDown: (conn: RelayConnection, link: RelayLink) => void;
}

export class RelayConnection {
  readonly url: string;
  readonly #opts: RelayConnectionOptions;
  readonly #abort = new AbortController();
  #link: RelayLink | undefined;
  #closed = false;
  #loop: Promise<void>;
  lastError: VdcError | undefined;
  /** Logins after the first. */
  reconnects = 0;

  constructor(opts: RelayConnectionOptions) {
    this.#opts = opts;
    this.url = opts.url;
    this.#loop = this.#connectLoop();
  }

  get link(): RelayLink | undefined {
    return this.#link?.isOpen ? this.#link : undefined;
  }

  get connected(): boolean {
    return this.#link?.isOpen === true;
  }

  async #connectLoop(): Promise<void> {
    const min = this.#opts.reconnect?.minDelayMs ?? 100;
    const max = this.#opts.reconnect?.maxDelayMs ?? 10_000;
    let attempt = 0;
    let loggedIn = false;
    while (!this.#closed) {
      try {
        let onDrop: () => void = () => {};
        const dropped = new Promise<void>((resolve) => {
          onDrop = resolve;
        });
        const link = await RelayLink.connect({
          url: this.url,
          identity: this.#opts.identity,
          twin: this.#opts.twin,
          ledger: this.#opts.ledger,
          onDeliver: this.#opts.onDeliver,
          onClose: (err) => {
            this.lastError = err;
            onDrop();
          },
        });
        if (this.#closed) {
          link.close();
          return;
        }
        this.#link = link;
        if (loggedIn) this.reconnects++;
        loggedIn = true;
        attempt = 0;
        this.lastError = undefined;
        this.#opts.onUp(this);
        await dropped;
        this.#link = undefined;
        this.#opts.onDown(this, link);
      } catch (err) {
        this.lastError = asVdcError(err);
        this.#opts.logger.log('info', 'relay connection failed', {
          url: this.url,
          code: this.lastError.code,
        });
      }
      if (this.#closed) return;
      const delay = Math.min(max, min * 2 ** Math.min(attempt, 16)) * (0.5 + Math.random() / 2);
      attempt++;
      try {
        await sleep(delay, undefined, { signal: this.#abort.signal });
      } catch {
        return; // aborted by close()
      }
    }
  }

  /** Stops reconnecting and closes the link; resolves once the loop has ended. */
  close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort();
    this.#link?.close();
    return this.#loop;
  }
}
