import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { type Clock, systemClock } from '../core/clock.ts';
import { asVdcError, VdcError } from '../core/errors.ts';
import { listenOn } from '../core/listen-on.ts';
import { jsonLogger, type Logger } from '../core/log.ts';
import type { Identity } from '../identity/index.ts';
import { DEFAULT_CLOCK_SKEW_MS, DEFAULT_MAX_LIFETIME_MS } from './envelope-receiver.ts';
import {
  addressGroup,
  DEFAULT_PREAUTH_LIMITS,
  PreauthGuard,
  type PreauthLimits,
} from './preauth-guard.ts';
import { DEFAULT_RATE_LIMITS, type RateLimits, rateLimitsProblem } from './rate-limiter.ts';
import { errorFrame, MAX_FRAME_BYTES, parseClientFrame } from './relay-frames.ts';
import { RelayPeers } from './relay-peers.ts';
import { DEFAULT_QUEUE_LIMITS, type QueueLimits, RelayQueue } from './relay-queue.ts';
import { RelayRouter, type RouterStats } from './relay-router.ts';
import { RelaySession } from './relay-session.ts';
import type { TwinDirectory } from './twin-directory.ts';

/*
 * The relay (DESIGN §6, docs/relay.md): a WebSocket server twins connect out to. It holds
 * nothing secret; each connection must log in before it gets anything, and every limit
 * (frame size, connections, login time, per-connection buffering, queues) is bounded so
 * that no client can make it hold more than its configuration allows.
 */

export interface RelayLimits extends QueueLimits, RateLimits, PreauthLimits {
  maxFrameBytes: number;
  maxConnections: number;
  authTimeoutMs: number;
  /** Bytes buffered towards one connection before its envelopes wait in the queue instead. */
  maxBufferedBytes: number;
  maxLifetimeMs: number;
  skewMs: number;
  forwardTimeoutMs: number;
}

export const DEFAULT_RELAY_LIMITS: RelayLimits = {
  ...DEFAULT_QUEUE_LIMITS,
  ...DEFAULT_RATE_LIMITS,
  ...DEFAULT_PREAUTH_LIMITS,
  maxFrameBytes: MAX_FRAME_BYTES,
  maxConnections: 10_000,
  authTimeoutMs: 10_000,
  maxBufferedBytes: 1024 * 1024,
  maxLifetimeMs: DEFAULT_MAX_LIFETIME_MS,
  skewMs: DEFAULT_CLOCK_SKEW_MS,
  forwardTimeoutMs: 10_000,
};

export interface RelayServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  directory: TwinDirectory;
  /** The URL twins dial and sign in their login; default ws://HOST:PORT. */
  publicUrl?: string;
  /** The relay's own twin keys, with which it logs in to peer relays (federation). */
  identity?: Identity;
  limits?: Partial<RelayLimits>;
  clock?: Clock;
  logger?: Logger;
}

export interface RelayStats extends RouterStats {
  connections: number;
  /** Connections not logged in yet. */
  unauthenticated: number;
  /** Frames refused with RELAY_RATE_LIMITED. */
  rateLimited: number;
  /** Connections closed with RELAY_RATE_LIMIT_EXCEEDED. */
  rateClosed: number;
  /** Upgrades answered 429: too many connections not logged in (from that address). */
  preauthRefused: number;
  twins: number;
  queue: { twins: number; envelopes: number; bytes: number };
}

export interface RelayServer {
  readonly url: string;
  readonly port: number;
  /** The limits in force: the defaults with the options' changes. */
  readonly limits: Readonly<RelayLimits>;
  stats(): RelayStats;
  connectedTwins(): number[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function urlOf(host: string, port: number): string {
  return `ws://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The id a `send` frame names, for refusals made before the envelope is looked at. */
function frameEnvelopeId(data: Buffer, isBinary: boolean): string | null {
  try {
    const frame = parseClientFrame(data, isBinary);
    const raw = frame.type === 'send' ? (frame.envelope as { id?: unknown } | null) : null;
    return typeof raw?.id === 'string' && raw.id.length <= 64 ? raw.id : null;
  } catch {
    return null; // not a frame: the refusal then names no envelope
  }
}

/**
 * Starts a relay listening on host:port.
 * @throws VdcError RELAY_LISTEN_INVALID when it cannot listen there, or when `limits` do
 * not hold together
 */
export async function startRelayServer(opts: RelayServerOptions): Promise<RelayServer> {
  const limits: RelayLimits = { ...DEFAULT_RELAY_LIMITS, ...opts.limits };
  const problem = rateLimitsProblem(limits, limits.maxFrameBytes);
  if (problem) throw new VdcError('RELAY_LISTEN_INVALID', `relay limits: ${problem}`);
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? jsonLogger(undefined, { program: 'relay' }, 'warn');
  const http = createServer((_req, res) => {
    res
      .writeHead(426, { 'content-type': 'text/plain' })
      .end('this is a VDC relay: connect with WebSocket\n');
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxFrameBytes });
  let url = '';
  const ownUrl = (): string => url;
  const queue = new RelayQueue(limits, clock);
  const peers = new RelayPeers({
    identity: opts.identity,
    directory: opts.directory,
    ownUrl,
    timeoutMs: limits.forwardTimeoutMs,
    logger: log,
  });
  const router = new RelayRouter({
    directory: opts.directory,
    queue,
    peers,
    clock,
    limits,
    logger: log,
    ownUrl,
  });
  const sessions = new Set<RelaySession>();
  const preauth = new PreauthGuard(limits);
  const counters = { rateLimited: 0, rateClosed: 0 };
  const describeRate = (f: number): string =>
    `${f * limits.rateMessagesPerSecond} envelopes and ${f * limits.rateBytesPerSecond} bytes a second, in bursts of ${f * limits.rateBurstMessages}`;

  /** Applies the connection's rate limits to one frame; false when the frame is not to be handled. */
  const admitted = (session: RelaySession, data: Buffer, isBinary: boolean): boolean => {
    const verdict = session.rate?.check(data.length) ?? 'admit';
    if (verdict === 'admit') return true;
    if (verdict === 'close') {
      counters.rateClosed++;
      log.log('warn', 'connection closed: it kept sending past its rate limit', {
        session: session.label(),
        refused: session.rate?.refused ?? 0,
      });
      session.refuse(
        new VdcError(
          'RELAY_RATE_LIMIT_EXCEEDED',
          `${session.label()} kept sending at more than ${limits.rateHardFactor} times its rate limit after being refused: connection closed; reconnect and send more slowly`,
        ),
      );
      return false;
    }
    counters.rateLimited++;
    session.send(
      errorFrame(
        new VdcError(
          'RELAY_RATE_LIMITED',
          `${session.label()} sends faster than this relay allows (${describeRate(session.rateFactor)}): this envelope was not taken; slow down and send it again`,
        ),
        frameEnvelopeId(data, isBinary),
      ),
    );
    return false;
  };

  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (sessions.size >= limits.maxConnections) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const group = addressGroup(req.socket.remoteAddress);
    if (!preauth.enter(group)) {
      log.log('info', 'upgrade refused: too many connections not logged in', { from: group });
      socket.end('HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    // Counted until it logs in or its socket closes, whichever comes first (also when the
    // upgrade itself fails and no session is ever made).
    let counted = true;
    const release = (): void => {
      if (counted) preauth.leave(group);
      counted = false;
    };
    socket.once('close', release);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new RelaySession(
        ws,
        url,
        opts.directory.ledger,
        `${req.socket.remoteAddress}:${req.socket.remotePort}`,
        limits.maxBufferedBytes,
      );
      sessions.add(session);
      const authTimer = setTimeout(() => {
        if (session.state === 'challenged')
          session.refuse(
            new VdcError('RELAY_AUTH_TIMEOUT', `no login within ${limits.authTimeoutMs} ms`),
          );
      }, limits.authTimeoutMs);
      ws.on('message', (data, isBinary) => {
        if (session.state === 'closed') return;
        if (session.state === 'ready' && !admitted(session, data as Buffer, isBinary)) return;
        let frame: ReturnType<typeof parseClientFrame>;
        try {
          frame = parseClientFrame(data as Buffer, isBinary);
        } catch (err) {
          const e = asVdcError(err);
          // Before login a bad frame ends the connection; after, it is answered and ignored.
          if (session.state === 'challenged') session.refuse(e);
          else session.send(errorFrame(e));
          return;
        }
        if (session.state === 'challenged') {
          if (frame.type !== 'auth') {
            session.refuse(
              new VdcError(
                'RELAY_AUTH_REQUIRED',
                'log in (answer the challenge) before sending anything',
              ),
            );
            return;
          }
          try {
            router.login(session, frame);
            clearTimeout(authTimer);
            release();
            session.limitRate(limits, clock);
          } catch (err) {
            log.log('info', 'login refused', {
              remote: session.remote,
              code: asVdcError(err).code,
            });
            session.refuse(asVdcError(err));
          }
        } else if (frame.type === 'send') {
          void router.send(session, frame);
        } else {
          session.send(
            errorFrame(
              new VdcError('RELAY_FRAME_MALFORMED', 'this connection is already logged in'),
            ),
          );
        }
      });
      ws.on('error', (err) => {
        // ws reports oversized frames (it closes with 1009) and protocol errors here.
        log.log('info', 'connection error', { session: session.label(), err });
      });
      ws.on('close', () => {
        clearTimeout(authTimer);
        session.state = 'closed';
        sessions.delete(session);
        router.closed(session);
      });
      ws.send(JSON.stringify(session.challenge));
    });
  });

  await listenOn(http, opts, (err) =>
    log.log('error', 'relay listener', { err: err.message }),
  ).catch((cause: Error) => {
    throw new VdcError(
      'RELAY_LISTEN_INVALID',
      `cannot listen on ${opts.host}:${opts.port}: ${cause.message}`,
      { cause },
    );
  });
  const port = (http.address() as AddressInfo).port;
  url = opts.publicUrl ?? urlOf(opts.host, port);
  const ticker = setInterval(() => router.flushAll(), 200);
  ticker.unref();
  log.log('info', 'relay listening', { url, ledger: opts.directory.ledger });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(ticker);
      for (const s of sessions)
        s.refuse(
          new VdcError('RELAY_SHUTTING_DOWN', 'the relay is shutting down; reconnect later'),
        );
      await peers.close();
      for (const s of sessions) s.ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    })();
    return closing;
  };

  return {
    url,
    port,
    limits,
    stats: () => ({
      ...router.stats,
      connections: sessions.size,
      unauthenticated: preauth.total,
      ...counters,
      preauthRefused: preauth.refused,
      twins: router.connectedTwins().length,
      queue: queue.stats(),
    }),
    connectedTwins: () => router.connectedTwins(),
    close,
    [Symbol.asyncDispose]: close,
  };
}
