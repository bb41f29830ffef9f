import { fail } from '../core/assert.ts';
import type { Clock } from '../core/clock.ts';
import { asVdcError, VdcError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { type Envelope, parseEnvelope } from './envelope.ts';
import { assertEnvelopeSignature } from './envelope-crypto.ts';
import { assertEnvelopeTime, type TimeLimits } from './envelope-receiver.ts';
import { assertLogin } from './relay-auth.ts';
import {
  type AuthFrame,
  encodeFrame,
  errorFrame,
  type SendFrame,
  type SendStatus,
} from './relay-frames.ts';
import type { RelayPeers } from './relay-peers.ts';
import type { RelayQueue } from './relay-queue.ts';
import type { RelaySession } from './relay-session.ts';
import type { TwinDirectory } from './twin-directory.ts';

/*
 * What the relay decides (docs/relay.md): who may log in, which envelopes it takes, and
 * where each goes: to the recipient's session here, to its queue here, or to the relay the
 * recipient listed on the ledger. The relay checks what it can without any secret: the
 * sender is the logged-in twin, the sender's signature holds, the expiry is sane. It never
 * sees a payload.
 */

export interface RouterStats {
  delivered: number;
  queued: number;
  forwarded: number;
  refused: number;
}

export class RelayRouter {
  readonly #directory: TwinDirectory;
  readonly #queue: RelayQueue;
  readonly #peers: RelayPeers;
  readonly #clock: Clock;
  readonly #limits: TimeLimits;
  readonly #log: Logger;
  readonly #ownUrl: () => string;
  readonly #twins = new Map<number, RelaySession>();
  readonly stats: RouterStats = { delivered: 0, queued: 0, forwarded: 0, refused: 0 };

  constructor(opts: {
    directory: TwinDirectory;
    queue: RelayQueue;
    peers: RelayPeers;
    clock: Clock;
    limits: TimeLimits;
    logger: Logger;
    ownUrl: () => string;
  }) {
    this.#directory = opts.directory;
    this.#queue = opts.queue;
    this.#peers = opts.peers;
    this.#clock = opts.clock;
    this.#limits = opts.limits;
    this.#log = opts.logger;
    this.#ownUrl = opts.ownUrl;
  }

  connectedTwins(): number[] {
    return [...this.#twins.keys()];
  }

  /**
   * Checks a login and, for a twin, makes its session the delivery target and hands it
   * what was queued for it.
   * @throws VdcError RELAY_TWIN_UNKNOWN, RELAY_AUTH_FAILED, RELAY_PEER_REFUSED
   */
  login(session: RelaySession, auth: AuthFrame): void {
    const twin = this.#directory.twin(auth.twin);
    if (!twin)
      fail('RELAY_TWIN_UNKNOWN', `twin ${auth.twin} is not on the ledger this relay follows`);
    assertLogin(session.challenge, auth, twin.signingKey);
    if (auth.role === 'relay') {
      // A peer relay is a twin that lists its own public URL as its first relay; it may only
      // hand over envelopes whose senders signed them, so it is trusted for nothing more.
      if (auth.url === null || twin.relays[0] !== auth.url || auth.url === this.#ownUrl())
        fail(
          'RELAY_PEER_REFUSED',
          `twin ${auth.twin} logged in as a relay at ${JSON.stringify(auth.url)}, but its ledger entry does not list that URL first`,
        );
      session.peerUrl = auth.url;
    }
    session.state = 'ready';
    session.twin = auth.twin;
    session.role = auth.role;
    session.signingKey = twin.signingKey;
    session.send({ type: 'ready', twin: auth.twin });
    if (auth.role === 'twin') {
      const previous = this.#twins.get(auth.twin);
      this.#twins.set(auth.twin, session);
      if (previous && previous !== session)
        previous.refuse(
          new VdcError(
            'RELAY_SESSION_REPLACED',
            `twin ${auth.twin} logged in again on another connection`,
          ),
        );
      this.flush(auth.twin);
    }
    this.#log.log('info', 'logged in', {
      twin: auth.twin,
      role: auth.role,
      remote: session.remote,
    });
  }

  /** Forgets a closed session. */
  closed(session: RelaySession): void {
    if (session.role === 'twin' && this.#twins.get(session.twin) === session)
      this.#twins.delete(session.twin);
  }

  /** Delivers what waits for every connected twin that reads again; drops what expired. */
  flushAll(): void {
    this.#queue.sweep();
    for (const twin of this.#queue.twinsWaiting()) this.flush(twin);
  }

  /** Delivers what waits for `twin`, as long as it keeps reading. */
  flush(twin: number): void {
    const session = this.#twins.get(twin);
    if (!session || this.#queue.waiting(twin) === 0) return;
    const items = this.#queue.take(twin);
    let i = 0;
    for (; i < items.length && session.canTakeMore; i++) session.send(items[i]!.frame);
    this.#queue.putBack(twin, items.slice(i));
  }

  /** Handles a send frame: answers `accepted` or an error naming the envelope. */
  async send(session: RelaySession, frame: SendFrame): Promise<void> {
    const raw = frame.envelope as { id?: unknown } | null;
    const rawId = typeof raw?.id === 'string' && raw.id.length <= 64 ? raw.id : null;
    try {
      const envelope = parseEnvelope(frame.envelope);
      const status = await this.#accept(session, envelope);
      this.stats[status]++;
      session.send({ type: 'accepted', id: envelope.id, status });
    } catch (err) {
      const e = asVdcError(err);
      this.stats.refused++;
      this.#log.log('info', 'envelope refused', {
        session: session.label(),
        code: e.code,
        id: rawId,
      });
      session.send(errorFrame(e, rawId));
    }
  }

  async #accept(session: RelaySession, envelope: Envelope): Promise<SendStatus> {
    const fromPeer = session.role === 'relay';
    const self = this.#directory.twin(session.twin);
    if (!self?.signingKey.equals(session.signingKey)) {
      session.refuse(
        new VdcError(
          'RELAY_AUTH_FAILED',
          `twin ${session.twin}'s key changed on the ledger: log in again`,
        ),
      );
      fail(
        'RELAY_AUTH_FAILED',
        `twin ${session.twin}'s key changed on the ledger since it logged in`,
      );
    }
    if (!fromPeer && envelope.from !== session.twin)
      fail(
        'RELAY_SENDER_MISMATCH',
        `envelope ${envelope.id} claims to be from twin ${envelope.from}, but this connection is twin ${session.twin}`,
      );
    const sender = this.#directory.twin(envelope.from);
    if (!sender)
      fail(
        'ENVELOPE_SENDER_UNKNOWN',
        `envelope ${envelope.id} names sender twin ${envelope.from}, which the ledger does not know`,
      );
    assertEnvelopeSignature(envelope, sender.signingKey);
    assertEnvelopeTime(envelope, this.#clock.now(), this.#limits);
    const recipient = this.#directory.twin(envelope.to);
    if (!recipient)
      fail(
        'ENVELOPE_RECIPIENT_UNKNOWN',
        `envelope ${envelope.id} is for twin ${envelope.to}, which the ledger does not know`,
      );
    const frame = encodeFrame({ type: 'deliver', envelope });
    const here = this.#twins.get(envelope.to);
    if (here) {
      // Keep order: while older envelopes wait in the queue, newer ones wait behind them.
      this.flush(envelope.to);
      if (here.canTakeMore && this.#queue.waiting(envelope.to) === 0) {
        here.send(frame);
        return 'delivered';
      }
      this.#queue.push(envelope.to, envelope.id, frame, envelope.expires);
      return 'queued';
    }
    const own = this.#ownUrl();
    const elsewhere = recipient.relays.filter((u) => u !== own);
    if (fromPeer || recipient.relays.length === 0 || recipient.relays.includes(own)) {
      if (fromPeer && !recipient.relays.includes(own))
        fail(
          'RELAY_RECIPIENT_NOT_HERE',
          `twin ${envelope.to} is neither connected to nor listed at relay ${own}`,
        );
      this.#queue.push(envelope.to, envelope.id, frame, envelope.expires);
      return 'queued';
    }
    let last: unknown;
    for (const url of elsewhere) {
      try {
        return await this.#peers.forward(url, envelope);
      } catch (err) {
        last = err;
        if (!(err instanceof VdcError) || err.code !== 'RELAY_PEER_UNREACHABLE') throw err;
      }
    }
    throw last;
  }
}
