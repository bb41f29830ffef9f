import { connect as h2connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { asVdcError } from '../core/errors.ts';
import { listenOn } from '../core/listen-on.ts';
import type { Logger } from '../core/log.ts';
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

export async function startTunnelServer(opts: TunnelServerOptions): Promise<TunnelServer> {
  const now = opts.now ?? Date.now;
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
    const view = opts.view();
    const authority = authorizeTunnel(view, hello, {
      ledger: opts.ledger,
      gateway: opts.gateway,
      exporter,
      now: now(),
    });
    // Authorized for the name: only now is the owner's certificate (if any) looked at.
    const record = view.nameOnGateway(opts.gateway, authority.name)!;
    let tls: BackendTls | undefined;
    if (hello.cert === undefined) checkTunnelTls(record, undefined, now());
    else
      tls = acceptTunnelTls(
        parseTlsFrame(await readFrame(socket, handshakeMs, MAX_CERT_FRAME_BYTES)),
        {
          record,
          host: `${authority.name}.${opts.domain}`,
          signedSha256: hello.cert,
          now: now(),
        },
      );
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
