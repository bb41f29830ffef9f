import { fail } from '../core/assert.ts';
import { VdcError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Identity } from '../identity/index.ts';
import type { Envelope } from './envelope.ts';
import type { SendStatus } from './relay-frames.ts';
import { RelayLink } from './relay-link.ts';
import type { TwinDirectory } from './twin-directory.ts';

/*
 * Federation (docs/relay.md): this relay logs in to another relay as its own twin, with
 * role `relay` and its public URL, and hands over envelopes for twins that live there. One
 * link per peer, opened on first use and reopened after it drops.
 */

export interface RelayPeersOptions {
  identity: Pick<Identity, 'sign' | 'signingPublicKey'> | undefined;
  directory: TwinDirectory;
  ownUrl: () => string;
  timeoutMs: number;
  logger: Logger;
}

export class RelayPeers {
  readonly #opts: RelayPeersOptions;
  readonly #links = new Map<string, Promise<RelayLink>>();
  #closed = false;

  constructor(opts: RelayPeersOptions) {
    this.#opts = opts;
  }

  #link(url: string): Promise<RelayLink> {
    const existing = this.#links.get(url);
    if (existing) return existing;
    const { identity, directory } = this.#opts;
    if (!identity)
      fail(
        'RELAY_PEER_UNREACHABLE',
        `this relay has no identity of its own, so it cannot forward to ${url}: start it with a key`,
      );
    const self = directory.twinByKey(identity.signingPublicKey.toString('hex'));
    if (!self)
      fail(
        'RELAY_PEER_UNREACHABLE',
        `this relay's key is not a twin on the ledger, so it cannot log in to ${url}: register the relay's twin`,
      );
    const pending = RelayLink.connect({
      url,
      identity,
      twin: self.id,
      role: 'relay',
      ownUrl: this.#opts.ownUrl(),
      ledger: directory.ledger,
      connectTimeoutMs: this.#opts.timeoutMs,
      onClose: () => this.#links.delete(url),
    });
    this.#links.set(url, pending);
    pending.catch(() => this.#links.delete(url));
    return pending;
  }

  /**
   * Hands an envelope to the relay at `url`.
   * @throws VdcError RELAY_PEER_UNREACHABLE, or the peer's own refusal (its code kept)
   */
  async forward(url: string, envelope: Envelope): Promise<SendStatus> {
    if (this.#closed) fail('RELAY_SHUTTING_DOWN', 'this relay is shutting down');
    let link: RelayLink;
    try {
      link = await this.#link(url);
    } catch (cause) {
      const e = cause instanceof VdcError ? cause : new VdcError('INTERNAL', String(cause));
      this.#opts.logger.log('warn', 'peer relay unreachable', { peer: url, code: e.code });
      throw new VdcError(
        'RELAY_PEER_UNREACHABLE',
        `relay ${url}, where twin ${envelope.to} lives, cannot be reached or refused this relay (${e.code}: ${e.message}); retry later`,
        { cause },
      );
    }
    try {
      await link.send(envelope, this.#opts.timeoutMs);
      return 'forwarded';
    } catch (err) {
      if (
        err instanceof VdcError &&
        (err.code === 'RELAY_UNAVAILABLE' || err.code === 'RELAY_SEND_TIMEOUT')
      )
        throw new VdcError(
          'RELAY_PEER_UNREACHABLE',
          `relay ${url} did not take envelope ${envelope.id}: ${err.message}`,
          { cause: err },
        );
      throw err;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const links = [...this.#links.values()];
    this.#links.clear();
    for (const p of links) {
      try {
        (await p).close();
      } catch {
        // a link that never opened has nothing to close
      }
    }
  }
}
