import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { type Clock, systemClock } from '../core/clock.ts';
import { asVdcError, VdcError } from '../core/errors.ts';
import { jsonLogger, type Logger } from '../core/log.ts';
import type { Identity } from '../identity/index.ts';
import { DEFAULT_CLOCK_SKEW_MS, DEFAULT_MAX_LIFETIME_MS } from './envelope-receiver.ts';
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

export interface RelayLimits extends QueueLimits {
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
  twins: number;
  queue: { twins: number; envelopes: number; bytes: number };
}

export interface RelayServer {
  readonly url: string;
  readonly port: number;
  stats(): RelayStats;
  connectedTwins(): number[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function urlOf(host: string, port: number): string {
  return `ws://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Starts a relay listening on host:port.
 * @throws VdcError RELAY_LISTEN_INVALID when it cannot listen there
 */
export async function startRelayServer(opts: RelayServerOptions): Promise<RelayServer> {
  const limits: RelayLimits = { ...DEFAULT_RELAY_LIMITS, ...opts.limits };
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

  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (sessions.size >= limits.maxConnections) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n');
      return;
    }
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

  await new Promise<void>((resolve, reject) => {
    http.once('error', (cause) =>
      reject(
        new VdcError(
          'RELAY_LISTEN_INVALID',
          `cannot listen on ${opts.host}:${opts.port}: ${cause.message}`,
          { cause },
        ),
      ),
    );
    http.listen(opts.port, opts.host, () => resolve());
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
    stats: () => ({
      ...router.stats,
      connections: sessions.size,
      twins: router.connectedTwins().length,
      queue: queue.stats(),
    }),
    connectedTwins: () => router.connectedTwins(),
    close,
    [Symbol.asyncDispose]: close,
  };
}
