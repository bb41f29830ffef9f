import { fail } from '../core/assert.ts';
import type { VdcError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Identity } from '../identity/index.ts';
import { relayForm } from './ledger-directory.ts';
import { RelayConnection } from './relay-connection.ts';
import type { RelayLink } from './relay-link.ts';
import type { TwinDirectory } from './twin-directory.ts';

/*
 * The relays one twin stays logged in to (docs/relay.md, "Several relays"): those it was
 * given, and, if asked, every relay it lists on the ledger (re-read now and then, so a
 * relay added or dropped there is followed). Each connection reconnects on its own; sends
 * go through the first one that is up, in the order given then listed.
 */

export interface RelaySetOptions {
  urls: readonly string[];
  fromDirectory: boolean;
  refreshMs: number;
  identity: Identity;
  twin: number;
  directory: TwinDirectory;
  reconnect?: { minDelayMs?: number; maxDelayMs?: number };
  logger: Logger;
  onDeliver: (envelope: unknown) => void;
  onUp: (url: string) => void;
  onDown: (url: string, link: RelayLink) => void;
}

export interface RelayStatus {
  url: string;
  connected: boolean;
  reconnects: number;
  /** The code of the last error, while not connected. */
  lastError: string | null;
}

interface Waiter {
  done: () => boolean;
  resolve: () => void;
}

export class RelaySet {
  readonly #opts: RelaySetOptions;
  readonly #conns = new Map<string, RelayConnection>();
  readonly #waiters = new Set<Waiter>();
  readonly #refresh: NodeJS.Timeout | undefined;
  #closed = false;

  /** @throws VdcError RELAY_CLIENT_NO_RELAYS when given none and not reading the ledger */
  constructor(opts: RelaySetOptions) {
    this.#opts = opts;
    if (opts.urls.length === 0 && !opts.fromDirectory)
      fail(
        'RELAY_CLIENT_NO_RELAYS',
        'no relay to connect to: give a relay URL, or read the relays the twin lists on the ledger',
      );
    this.refresh();
    if (opts.fromDirectory) {
      this.#refresh = setInterval(() => this.refresh(), opts.refreshMs);
      this.#refresh.unref();
    }
  }

  /** The relays wanted now: those given, then those listed for the twin, without repeats. */
  #wanted(): string[] {
    const urls = [...this.#opts.urls];
    if (this.#opts.fromDirectory) {
      try {
        urls.push(...(this.#opts.directory.twin(this.#opts.twin)?.relays ?? []));
      } catch (err) {
        // A directory that refuses lookups (a forged ledger) gives no new relays; the
        // connections made so far stay, and the relays themselves refuse what they must.
        this.#opts.logger.log('warn', 'relays of this twin cannot be read', {
          error: String((err as Error).message),
        });
        return [...this.#conns.keys()];
      }
    }
    // One connection per relay: `ws://h:p/` (as the ledger writes it) and `ws://h:p` are one
    // relay, and two logins of one twin there would keep replacing each other.
    return [...new Set(urls.map(relayForm))];
  }

  /** Connects to relays newly listed and drops those no longer wanted. */
  refresh(): void {
    if (this.#closed) return;
    const wanted = this.#wanted();
    for (const [url, conn] of this.#conns)
      if (!wanted.includes(url)) {
        this.#conns.delete(url);
        void conn.close();
      }
    const ordered = new Map<string, RelayConnection>();
    for (const url of wanted) {
      const conn = this.#conns.get(url) ?? this.#connect(url);
      ordered.set(url, conn);
    }
    this.#conns.clear();
    for (const [url, conn] of ordered) this.#conns.set(url, conn);
    this.#notify();
  }

  #connect(url: string): RelayConnection {
    const o = this.#opts;
    return new RelayConnection({
      url,
      identity: o.identity,
      twin: o.twin,
      ledger: o.directory.ledger,
      ...(o.reconnect ? { reconnect: o.reconnect } : {}),
      logger: o.logger,
      onDeliver: o.onDeliver,
      onUp: (conn) => {
        o.onUp(conn.url);
        this.#notify();
      },
      onDown: (conn, link) => {
        o.onDown(conn.url, link);
        this.#notify();
      },
    });
  }

  get urls(): string[] {
    return [...this.#conns.keys()];
  }

  get connected(): boolean {
    return this.pick() !== undefined;
  }

  get allConnected(): boolean {
    if (this.#conns.size === 0) return false;
    for (const c of this.#conns.values()) if (!c.connected) return false;
    return true;
  }

  /**
   * The link to send on: the first relay that is up among those the recipient lists
   * (`prefer`), so the envelope needs no hop between relays — which also keeps working when
   * relays cannot federate — else the first relay that is up.
   */
  pick(prefer: readonly string[] = []): RelayLink | undefined {
    for (const url of prefer) {
      const link = this.#conns.get(relayForm(url))?.link;
      if (link) return link;
    }
    for (const c of this.#conns.values()) {
      const link = c.link;
      if (link) return link;
    }
    return undefined;
  }

  describe(): string {
    const urls = this.urls;
    if (urls.length === 0) return 'any relay (this twin lists none)';
    return urls.length === 1 ? `relay ${urls[0]}` : `any of relays ${urls.join(', ')}`;
  }

  /** The error that kept the first relay down, if any. */
  lastError(): VdcError | undefined {
    for (const c of this.#conns.values()) if (c.lastError) return c.lastError;
    return undefined;
  }

  status(): RelayStatus[] {
    return [...this.#conns.values()].map((c) => ({
      url: c.url,
      connected: c.connected,
      reconnects: c.reconnects,
      lastError: c.connected ? null : (c.lastError?.code ?? null),
    }));
  }

  /** Resolves once `done()` holds (checked whenever a relay goes up or down); false on timeout. */
  waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        done,
        resolve: () => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        resolve(false);
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  #notify(): void {
    for (const w of [...this.#waiters]) if (this.#closed || w.done()) w.resolve();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#refresh);
    const conns = [...this.#conns.values()];
    this.#notify();
    await Promise.all(conns.map((c) => c.close()));
  }
}
