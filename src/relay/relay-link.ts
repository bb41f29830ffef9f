import { WebSocket } from 'ws';
import { ERROR_CODES, type ErrorCode } from '../core/error-codes.ts';
import { VdcError } from '../core/errors.ts';
import type { Identity } from '../identity/index.ts';
import type { Envelope } from './envelope.ts';
import { signLogin } from './relay-auth.ts';
import {
  type ChallengeFrame,
  type ErrorFrame,
  encodeFrame,
  MAX_FRAME_BYTES,
  parseServerFrame,
  type RelayRole,
  type SendStatus,
} from './relay-frames.ts';

/*
 * One authenticated WebSocket connection to a relay, as a twin or as a peer relay: it
 * answers the challenge, then sends envelopes and matches the relay's answers to them by
 * envelope id. No reconnection here: RelayClient and RelayPeers build that on top.
 */

/** A relay's error frame as a VdcError, keeping its code when it is one of ours. */
export function remoteError(frame: Pick<ErrorFrame, 'code' | 'message'>): VdcError {
  if (Object.hasOwn(ERROR_CODES, frame.code))
    return new VdcError(frame.code as ErrorCode, frame.message);
  return new VdcError('RELAY_REMOTE_ERROR', `the relay answered ${frame.code}: ${frame.message}`);
}

export interface RelayLinkOptions {
  url: string;
  identity: Pick<Identity, 'sign'>;
  twin: number;
  role?: RelayRole;
  /** For role `relay`: this relay's own public URL. */
  ownUrl?: string | null;
  /** When set, a relay following another ledger is refused. */
  ledger?: string;
  connectTimeoutMs?: number;
  onDeliver?: (envelope: unknown) => void;
  onClose?: (reason: VdcError) => void;
}

interface PendingSend {
  resolve: (status: SendStatus) => void;
  reject: (err: VdcError) => void;
  timer: NodeJS.Timeout;
}

export class RelayLink {
  readonly url: string;
  readonly #ws: WebSocket;
  readonly #pending = new Map<string, PendingSend>();
  readonly #opts: RelayLinkOptions;
  #closed: VdcError | undefined;

  private constructor(ws: WebSocket, opts: RelayLinkOptions) {
    this.#ws = ws;
    this.#opts = opts;
    this.url = opts.url;
  }

  /**
   * Connects and logs in; resolves once the relay said `ready`.
   * @throws VdcError RELAY_UNAVAILABLE, RELAY_AUTH_FAILED, RELAY_TWIN_UNKNOWN, RELAY_PEER_REFUSED, …
   * (the relay's own code when it refused the login)
   */
  static connect(opts: RelayLinkOptions): Promise<RelayLink> {
    return new Promise((resolve, reject) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(opts.url, {
          maxPayload: MAX_FRAME_BYTES,
          handshakeTimeout: opts.connectTimeoutMs ?? 10_000,
        });
      } catch (cause) {
        reject(
          new VdcError(
            'RELAY_UNAVAILABLE',
            `cannot connect to relay ${opts.url}: ${(cause as Error).message}`,
            { cause },
          ),
        );
        return;
      }
      const link = new RelayLink(ws, opts);
      let settled = false;
      const timer = setTimeout(() => {
        settle(
          new VdcError(
            'RELAY_UNAVAILABLE',
            `relay ${opts.url} did not complete the login within ${opts.connectTimeoutMs ?? 10_000} ms`,
          ),
        );
        ws.terminate();
      }, opts.connectTimeoutMs ?? 10_000);
      const settle = (err?: VdcError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(link);
      };
      let challenge: ChallengeFrame | undefined;
      ws.on('error', (cause) => {
        const err = new VdcError(
          'RELAY_UNAVAILABLE',
          `relay ${opts.url} cannot be reached: ${cause.message}; check it runs and the URL`,
          { cause },
        );
        settle(err);
        link.#shutdown(err);
      });
      ws.on('close', (code, reason) => {
        const err =
          code === 1009
            ? new VdcError(
                'RELAY_FRAME_TOO_LARGE',
                `relay ${opts.url} closed the connection: a frame exceeded its size limit`,
              )
            : new VdcError(
                'RELAY_UNAVAILABLE',
                `the connection to relay ${opts.url} closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`,
              );
        settle(err);
        link.#shutdown(err);
      });
      ws.on('message', (data, isBinary) => {
        let frame: ReturnType<typeof parseServerFrame>;
        try {
          frame = parseServerFrame(data as Buffer, isBinary);
        } catch (err) {
          // A relay that speaks garbage is not one to keep talking to.
          const e = err as VdcError;
          settle(e);
          link.#shutdown(e);
          ws.terminate();
          return;
        }
        if (frame.type === 'challenge' && !challenge) {
          challenge = frame;
          if (opts.ledger !== undefined && frame.ledger !== opts.ledger) {
            const e = new VdcError(
              'RELAY_AUTH_FAILED',
              `relay ${opts.url} follows ledger ${frame.ledger}, not ${opts.ledger}: not logging in`,
            );
            settle(e);
            link.#shutdown(e);
            ws.close();
            return;
          }
          ws.send(
            encodeFrame(
              signLogin(
                opts.identity,
                { ...frame, relay: opts.url },
                opts.twin,
                opts.role ?? 'twin',
                opts.ownUrl ?? null,
              ),
            ),
          );
        } else if (frame.type === 'ready' && challenge && !settled) {
          settle();
        } else if (frame.type === 'error' && !settled) {
          settle(remoteError(frame));
        } else if (settled && !link.#closed) {
          link.#onFrame(frame);
        }
      });
    });
  }

  #onFrame(frame: ReturnType<typeof parseServerFrame>): void {
    if (frame.type === 'deliver') {
      this.#opts.onDeliver?.(frame.envelope);
    } else if (frame.type === 'accepted' || frame.type === 'error') {
      const id = frame.type === 'accepted' ? frame.id : frame.id;
      const pending = id === null ? undefined : this.#pending.get(id);
      if (!pending) return; // an answer to nothing we wait for: ignore it
      this.#pending.delete(id as string);
      clearTimeout(pending.timer);
      if (frame.type === 'accepted') pending.resolve(frame.status);
      else pending.reject(remoteError(frame));
    }
  }

  #shutdown(err: VdcError): void {
    if (this.#closed) return;
    this.#closed = err;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
    this.#opts.onClose?.(err);
  }

  get isOpen(): boolean {
    return !this.#closed && this.#ws.readyState === WebSocket.OPEN;
  }

  /**
   * Hands one envelope to the relay; resolves with what the relay did with it.
   * @throws VdcError RELAY_SEND_TIMEOUT, RELAY_UNAVAILABLE, or the relay's refusal
   */
  send(envelope: Envelope, timeoutMs: number): Promise<SendStatus> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (this.#pending.has(envelope.id))
      return Promise.reject(
        new VdcError('ENVELOPE_REPLAYED', `envelope ${envelope.id} is already on its way`),
      );
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(envelope.id);
        reject(
          new VdcError(
            'RELAY_SEND_TIMEOUT',
            `relay ${this.url} did not acknowledge envelope ${envelope.id} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.#pending.set(envelope.id, { resolve, reject, timer });
      this.#ws.send(encodeFrame({ type: 'send', envelope }));
    });
  }

  close(): void {
    this.#shutdown(
      new VdcError(
        'RELAY_CLIENT_CLOSED',
        `the connection to relay ${this.url} was closed by this side`,
      ),
    );
    this.#ws.close();
  }

  /** For tests of the relay's defences: sends raw bytes as they are. */
  sendRaw(data: string | Buffer, binary = false): void {
    this.#ws.send(data, { binary });
  }
}
