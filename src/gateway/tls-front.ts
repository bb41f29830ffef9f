import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type SecureContext, type TLSSocket } from 'node:tls';
import { listenOn } from '../core/listen-on.ts';
import { scanClientHello } from './client-hello.ts';
import { addressAllowed, clientAddress, DEFAULTS, type FrontOptions } from './name-policy.ts';

/*
 * The public TLS listener (names in `tls-passthrough` mode): reads the ClientHello's server
 * name without terminating TLS, and pipes the connection — the ClientHello included — over
 * a tunnel stream to the backend, which holds the name's certificate. A name in http mode
 * whose contract pins a certificate that a connected backend presented is terminated here
 * instead, with that certificate, and the decrypted connection goes to the HTTP front. An
 * unknown name, another http-mode name, a refused address or a malformed hello: the
 * connection is closed and nothing is forwarded.
 */

export interface TlsFrontOptions extends FrontOptions {
  /** time for the ClientHello before a name's own connectMs applies */
  helloTimeoutMs?: number;
  /** where connections terminated here go (the HTTP front) */
  terminated?: (socket: TLSSocket) => void;
}

export async function startTlsFront(
  opts: TlsFrontOptions,
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const contextFor = (label: string): SecureContext | undefined => {
    const record = opts.lookup(label);
    const pin = record?.mode === 'http' ? record.rules.tlsCertSha256 : undefined;
    return pin === undefined ? undefined : opts.pool.tlsContext(label, pin);
  };
  // Terminates TLS for http-mode names with the owner's certificate, looked up again by the
  // server name at the handshake (the backend may have gone since the ClientHello was read).
  const terminator = createTlsServer({
    minVersion: 'TLSv1.2',
    ALPNProtocols: ['http/1.1'],
    handshakeTimeout: opts.helloTimeoutMs ?? DEFAULTS.connectMs,
    SNICallback: (servername, cb) => {
      const ctx = servername.endsWith(`.${opts.domain}`)
        ? contextFor(servername.slice(0, -opts.domain.length - 1))
        : undefined;
      if (ctx) cb(null, ctx);
      else cb(new Error(`no certificate for ${servername}`));
    },
  });
  terminator.on('tlsClientError', () => {});
  terminator.on('secureConnection', (tlsSocket: TLSSocket) => {
    tlsSocket.on('error', () => {});
    if (opts.terminated) opts.terminated(tlsSocket);
    else tlsSocket.destroy();
  });
  const server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const ip = clientAddress(socket.remoteAddress);
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), opts.helloTimeoutMs ?? DEFAULTS.connectMs);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const scan = scanClientHello(buf);
      if (scan.state === 'more') return;
      socket.off('data', onData);
      socket.pause();
      clearTimeout(timer);
      if (scan.state === 'invalid') return void socket.destroy();
      const label = scan.serverName?.endsWith(`.${opts.domain}`)
        ? scan.serverName.slice(0, -opts.domain.length - 1)
        : undefined;
      const record = label === undefined || label.includes('.') ? undefined : opts.lookup(label);
      if (record?.mode === 'http' && record.rules.tlsCertSha256 !== undefined) {
        // Rate limits count requests, in the HTTP front; addresses are refused before TLS.
        if (!addressAllowed(record, ip) || !contextFor(record.name)) return void socket.destroy();
        socket.unshift(buf);
        terminator.emit('connection', socket);
        return;
      }
      if (record?.mode !== 'tls-passthrough') return void socket.destroy();
      if (!addressAllowed(record, ip) || opts.limiter.take(record, ip) > 0)
        return void socket.destroy();
      const idle = record.rules.timeouts?.idleMs ?? DEFAULTS.idleMs;
      socket.setTimeout(idle, () => socket.destroy());
      const connectTimer = setTimeout(
        () => socket.destroy(),
        record.rules.timeouts?.connectMs ?? DEFAULTS.connectMs,
      );
      opts.pool.open(record.name).then(
        (stream) => {
          clearTimeout(connectTimer);
          if (socket.destroyed) return void stream.destroy();
          stream.on('error', () => socket.destroy());
          stream.write(buf);
          stream.pipe(socket);
          socket.pipe(stream);
          socket.resume();
          socket.on('close', () => stream.destroy());
          stream.on('close', () => socket.destroy());
        },
        (err: Error) => {
          clearTimeout(connectTimer);
          opts.logger.log('warn', 'passthrough failed', { name: record.name, err: err.message });
          socket.destroy();
        },
      );
    };
    socket.on('data', onData);
  });
  await listenOn(server, opts, (err) =>
    opts.logger.log('error', 'tls listener', { err: err.message }),
  );
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
