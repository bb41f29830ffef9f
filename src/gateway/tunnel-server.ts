import { connect as h2connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { fail } from '../core/assert.ts';
import { asVdcError, VdcError } from '../core/errors.ts';
import { listenOn } from '../core/listen-on.ts';
import type { Logger } from '../core/log.ts';
import { settleWithin } from '../core/settle-within.ts';
import type { Projection } from '../ledger/index.ts';
import type { BackendPool } from './backend-pool.ts';
import {
  authorizeTunnel,
  parseTunnelHello,
  TUNNEL_EXPORTER_BYTES,
  TUNNEL_EXPORTER_LABEL,
} from './tunnel-auth.ts';
import { MAX_CERT_FRAME_BYTES, readFrame, writeFrame } from './tunnel-frame.ts';
import { acceptTunnelTls, type BackendTls, checkTunnelTls, parseTlsFrame } from './tunnel-tls.ts';

/*
 * The tunnel port: backends dial in over TLS 1.3, send a signed hello bound to the session's
 * exporter, and on acceptance the gateway becomes the HTTP/2 *client* on that connection
 * (the backend is the HTTP/2 server), so the gateway reaches the backend without the
 * backend listening anywhere.
 */

export const TUNNEL_ALPN = 'vdc-tunnel/1';
/** Window sizes: one tunnel carries many streams; 1 MiB windows keep a single stream fast. */
export const TUNNEL_SETTINGS = { initialWindowSize: 1 << 20, maxConcurrentStreams: 1000 };

export interface TunnelServerOptions {
  host: string;
  port: number;
  key: Buffer;
  cert: Buffer;
  ledger: string;
  gateway: number;
  /** the gateway's domain: an owner's certificate must cover NAME.DOMAIN */
  domain: string;
  view: () => Projection;
  /**
   * Brings `view` to the ledger's newest head (the follower's sync). A hello refused for a
   * reason the ledger may have changed a moment ago (a name just registered, a node just
   * listed, a new pin) is decided again once after it: this gateway may be the one behind.
   */
  sync?: () => Promise<unknown>;
  now?: () => number;
  pool: BackendPool;
  logger: Logger;
  handshakeMs?: number;
  /** connections not yet past the handshake, at most */
  maxPending?: number;
}

export interface TunnelServer {
  server: Server;
  port: number;
  /** Re-checks every tunnel against the current view; closes those no longer allowed. */
  recheck(): void;
  close(): Promise<void>;
}

/** Refusals a newer head may lift: decided again after one sync. */
const LAG_CODES: ReadonlySet<string> = new Set([
  'TUNNEL_NAME_UNKNOWN',
  'TUNNEL_NOT_NAME_OWNER',
  'TUNNEL_NODE_NOT_LISTED',
  'TUNNEL_CERT_NOT_PINNED',
  'TUNNEL_CERT_NOT_HTTP',
  'TUNNEL_CERT_REQUIRED',
]);
/** A sync this recent counts as fresh; longer than this, a sync is not waited for. */
const FRESH_MS = 250;
const SYNC_WAIT_MS = 3_000;

export async function startTunnelServer(opts: TunnelServerOptions): Promise<TunnelServer> {
  const now = opts.now ?? Date.now;
  // One sync at a time, shared by every handshake waiting on it, and none within FRESH_MS of
  // the last: hellos refused in a flood cost the ledger at most a follower's polling.
  let syncing: Promise<void> | undefined;
  let syncedAt = 0;
  const freshen = (): Promise<void> => {
    if (!opts.sync || Date.now() - syncedAt < FRESH_MS) return Promise.resolve();
    syncing ??= (async () => {
      await settleWithin(
        opts.sync!().catch(() => {}),
        SYNC_WAIT_MS,
      );
      syncedAt = Date.now();
      syncing = undefined;
    })();
    return syncing;
  };
  const decide = async <T>(judge: (view: Projection) => T): Promise<T> => {
    try {
      return judge(opts.view());
    } catch (err) {
      if (!(err instanceof VdcError) || !LAG_CODES.has(err.code) || !opts.sync) throw err;
      await freshen();
      return judge(opts.view());
    }
  };
  const handshakeMs = opts.handshakeMs ?? 10_000;
  const maxPending = opts.maxPending ?? 256;
  let pending = 0;
  const log = opts.logger;
  const server = createServer({
    key: opts.key,
    cert: opts.cert,
    minVersion: 'TLSv1.3',
    ALPNProtocols: [TUNNEL_ALPN],
    handshakeTimeout: handshakeMs,
    noDelay: true,
  });
  server.on('tlsClientError', () => {}); // a failed TLS handshake is the client's problem
  server.on('secureConnection', (socket: TLSSocket) => {
    if (pending >= maxPending) return void socket.destroy();
    pending++;
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('error', () => {});
    // Many small frames from many streams: Nagle's delay would add up to 40 ms per exchange.
    socket.setNoDelay(true);
    void handshake(socket)
      .catch((err) => {
        const e = asVdcError(err);
        log.log('warn', 'tunnel refused', { remote, code: e.code, err: e.message });
        if (!socket.destroyed && socket.writable) {
          void writeFrame(socket, { ok: false, code: e.code, message: e.message }).then(() =>
            socket.end(),
          );
        }
        setTimeout(() => socket.destroy(), 1000).unref();
      })
      .finally(() => pending--);
  });

  async function handshake(socket: TLSSocket): Promise<void> {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const hello = parseTunnelHello(await readFrame(socket, handshakeMs));
    const exporter = socket.exportKeyingMaterial(
      TUNNEL_EXPORTER_BYTES,
      TUNNEL_EXPORTER_LABEL,
      Buffer.alloc(0),
    );
    const authority = await decide((view) =>
      authorizeTunnel(view, hello, {
        ledger: opts.ledger,
        gateway: opts.gateway,
        exporter,
        now: now(),
      }),
    );
    // Authorized for the name: only now is the owner's certificate (if any) looked at.
    const frame =
      hello.cert === undefined
        ? undefined
        : parseTlsFrame(await readFrame(socket, handshakeMs, MAX_CERT_FRAME_BYTES));
    const tls: BackendTls | undefined = await decide((view) => {
      const record = view.nameOnGateway(opts.gateway, authority.name);
      if (!record) fail('TUNNEL_NAME_UNKNOWN', `${authority.name} left this gateway just now`);
      if (!frame || hello.cert === undefined) return void checkTunnelTls(record, undefined, now());
      return acceptTunnelTls(frame, {
        record,
        host: `${authority.name}.${opts.domain}`,
        signedSha256: hello.cert,
        now: now(),
      });
    });
    await writeFrame(socket, { ok: true });
    const session = h2connect(`http://${hello.name}`, {
      createConnection: () => socket,
      settings: TUNNEL_SETTINGS,
    });
    session.on('error', () => {});
    opts.pool.add(
      { session, authority, hello, exporter, remote, ...(tls ? { tls } : {}) },
      (b, why) => log.log('info', 'tunnel closed', { name: b.authority.name, remote, why }),
    );
    log.log('info', 'tunnel open', {
      name: authority.name,
      remote,
      ...(authority.node === undefined ? {} : { node: authority.node }),
    });
  }

  await listenOn(server, opts, (err) => log.log('error', 'tunnel listener', { err: err.message }));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    recheck() {
      const view = opts.view();
      for (const b of opts.pool.all()) {
        try {
          const a = authorizeTunnel(view, b.hello, {
            ledger: opts.ledger,
            gateway: opts.gateway,
            exporter: b.exporter,
            now: now(),
          });
          // A changed pin (or mode), or a certificate past its validity, closes the tunnel.
          checkTunnelTls(view.nameOnGateway(opts.gateway, a.name)!, b.tls, now());
        } catch (err) {
          log.log('info', 'tunnel no longer allowed', {
            name: b.authority.name,
            remote: b.remote,
            code: asVdcError(err).code,
          });
          opts.pool.close(b);
        }
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        opts.pool.closeAll();
        server.close(() => resolve());
      }),
  };
}
