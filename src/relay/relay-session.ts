import type { WebSocket } from 'ws';
import type { Clock } from '../core/clock.ts';
import type { VdcError } from '../core/errors.ts';
import { ConnectionRate, type RateLimits } from './rate-limiter.ts';
import { newChallenge } from './relay-auth.ts';
import {
  type ChallengeFrame,
  encodeFrame,
  errorFrame,
  type RelayRole,
  type ServerFrame,
} from './relay-frames.ts';

/*
 * One connection to the relay: challenged until it logs in, then a twin (a delivery
 * target) or a peer relay (which may only hand over envelopes signed by their senders).
 */

export type SessionState = 'challenged' | 'ready' | 'closed';

export class RelaySession {
  readonly ws: WebSocket;
  readonly challenge: ChallengeFrame;
  readonly remote: string;
  state: SessionState = 'challenged';
  twin = -1;
  role: RelayRole = 'twin';
  /** The signing key the twin logged in with; re-checked against the ledger on every send. */
  signingKey: Buffer = Buffer.alloc(0);
  /** The peer relay's public URL, for role `relay`. */
  peerUrl: string | null = null;
  /** Set at login: the bounds on what this connection may send. */
  rate: ConnectionRate | undefined;
  /** How many times a twin's rate bounds this connection gets (peer relays get more). */
  rateFactor = 1;
  readonly #maxBuffered: number;

  constructor(
    ws: WebSocket,
    relayUrl: string,
    ledger: string,
    remote: string,
    maxBuffered: number,
  ) {
    this.ws = ws;
    this.remote = remote;
    this.challenge = newChallenge(relayUrl, ledger);
    this.#maxBuffered = maxBuffered;
  }

  /** Starts counting what the connection sends, by its role (call after login). */
  limitRate(limits: RateLimits, clock: Clock): void {
    this.rateFactor = this.role === 'relay' ? limits.ratePeerFactor : 1;
    this.rate = new ConnectionRate(limits, clock, this.rateFactor);
  }

  /** Whether the twin reads fast enough to be handed more; otherwise its envelopes wait in the queue. */
  get canTakeMore(): boolean {
    return (
      this.state === 'ready' &&
      this.ws.readyState === this.ws.OPEN &&
      this.ws.bufferedAmount < this.#maxBuffered
    );
  }

  /**
   * Sends a frame. A peer that stopped reading even our answers (four times the delivery
   * bound buffered) is cut off, so it cannot make the relay hold its backlog in memory.
   */
  send(frame: ServerFrame | string): boolean {
    if (this.state === 'closed' || this.ws.readyState !== this.ws.OPEN) return false;
    if (this.ws.bufferedAmount > 4 * this.#maxBuffered) {
      this.ws.terminate();
      this.state = 'closed';
      return false;
    }
    this.ws.send(typeof frame === 'string' ? frame : encodeFrame(frame));
    return true;
  }

  /** Sends the error, then closes: for refusals that end the session (a failed login). */
  refuse(err: VdcError): void {
    this.send(errorFrame(err));
    this.state = 'closed';
    // 1008: policy violation. The code is in the error frame; the close reason stays short.
    this.ws.close(1008, err.code);
  }

  label(): string {
    return this.state === 'ready' ? `${this.role} ${this.twin}` : `unauthenticated ${this.remote}`;
  }
}
