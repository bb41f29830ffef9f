import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { listenOn } from '../core/listen-on.ts';
import type { NameRecord } from '../ledger/index.ts';
import { rawSocketRefuse, refuse } from './client-refusal.ts';
import { requestHeaders } from './forward-headers.ts';
import { forwardRequest } from './http-forward.ts';
import { addressAllowed, clientAddress, DEFAULTS, type FrontOptions } from './name-policy.ts';

/*
 * The public HTTP listener (names in `http` mode): routes by Host, enforces the name's
 * rules, and hands each request to http-forward.ts, which sends it as HTTP/1.1 over a
 * kept-alive CONNECT stream of a tunnel. Node's parser
 * (llhttp, strict) already refuses most smuggling shapes; the checks below repeat the ones
 * that matter so a later parser change cannot quietly let them through, and every refusal
 * is a clean status with `Connection: close`. The TLS front hands over the connections it
 * terminated with an owner's certificate (`accept`): same rules, same path, proto https.
 */

export interface HttpFrontOptions extends FrontOptions {
  /** time to receive a request's headers (slowloris), ms */
  headersTimeoutMs?: number;
  /** how often node checks header and request timeouts, ms */
  checkIntervalMs?: number;
  keepAliveTimeoutMs?: number;
  /** the public TLS port, for redirecting plain HTTP to a name served over TLS */
  httpsPort?: () => number | undefined;
}

export interface HttpFront {
  server: Server;
  port: number;
  /** Serves a TLS connection the TLS front terminated (http mode with an owner's certificate). */
  accept(socket: TLSSocket): void;
  close(): Promise<void>;
}

/** The server-wide header cap: the largest a name may allow; each name's own cap is checked per request. */
const SERVER_MAX_HEADER = 65_536;

export function nameOfHost(host: string | undefined, domain: string): string | undefined {
  if (!host) return undefined;
  const m = /^([a-z0-9.-]+?)\.?(?::[0-9]{1,5})?$/i.exec(host);
  if (!m) return undefined;
  const full = m[1]!.toLowerCase();
  if (!full.endsWith(`.${domain}`)) return undefined;
  const label = full.slice(0, -domain.length - 1);
  return /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label) ? label : undefined;
}

/** Header bytes as they came: request line and every `name: value\r\n`. */
function headerBytes(req: IncomingMessage): number {
  let n = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 12;
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    n += req.rawHeaders[i]!.length + req.rawHeaders[i + 1]!.length + 4;
  return n;
}

/** Whether the request came over a TLS connection the gateway terminated. */
function overTls(req: IncomingMessage): boolean {
  return (req.socket as Partial<TLSSocket>).encrypted === true;
}

type Verdict =
  | { record: NameRecord; ip: string; proto: 'http' | 'https' }
  | { status: number; why: string; extra?: Record<string, string> };

export async function startHttpFront(opts: HttpFrontOptions): Promise<HttpFront> {
  const log = opts.logger;

  function check(req: IncomingMessage): Verdict {
    const name = nameOfHost(req.headers.host, opts.domain);
    const tls = overTls(req);
    // Over TLS the Host must name the server the TLS session was made for (no fronting
    // another name through this name's certificate).
    if (tls && (req.socket as TLSSocket).servername !== `${name}.${opts.domain}`)
      return { status: 421, why: 'this connection is for another name' };
    const record = name === undefined ? undefined : opts.lookup(name);
    if (record?.mode !== 'http') return { status: 404, why: 'no such name on this gateway' };
    const ip = clientAddress(req.socket.remoteAddress);
    if (!addressAllowed(record, ip))
      return { status: 403, why: 'your address may not reach this name' };
    const raw = req.rawHeaders;
    let lengths = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const h = raw[i]!.toLowerCase();
      if (h === 'content-length') lengths++;
      if (
        h === 'host' &&
        i > 0 &&
        raw.slice(0, i).some((x, j) => j % 2 === 0 && x.toLowerCase() === 'host')
      )
        return { status: 400, why: 'more than one Host header' };
    }
    if (lengths > 1) return { status: 400, why: 'more than one Content-Length' };
    const te = req.headers['transfer-encoding'];
    if (te !== undefined && (lengths > 0 || te.toLowerCase() !== 'chunked'))
      return {
        status: 400,
        why: 'Transfer-Encoding must be exactly chunked and never with Content-Length',
      };
    if (!req.url?.startsWith('/'))
      return { status: 400, why: 'only origin-form request targets are forwarded' };
    const rules = record.rules;
    if (headerBytes(req) > (rules.maxHeaderBytes ?? DEFAULTS.maxHeaderBytes))
      return { status: 431, why: 'request headers too large' };
    if (rules.methods && !rules.methods.includes(req.method ?? ''))
      return { status: 405, why: 'method not allowed', extra: { allow: rules.methods.join(', ') } };
    const path = req.url.split('?')[0]!;
    if (rules.pathPrefixes && !rules.pathPrefixes.some((p) => path.startsWith(p)))
      return { status: 403, why: 'path not allowed' };
    const maxBody = rules.maxBodyBytes ?? DEFAULTS.maxBodyBytes;
    const length = req.headers['content-length'];
    if (length !== undefined && Number(length) > maxBody)
      return { status: 413, why: 'body too large' };
    const wait = opts.limiter.take(record, ip);
    if (wait > 0) return { status: 429, why: 'rate limit', extra: { 'retry-after': String(wait) } };
    if (!tls && rules.tlsCertSha256 !== undefined) {
      // The owner serves this name over TLS: plain HTTP is sent there (308 keeps the method).
      const port = opts.httpsPort?.();
      const at = port === undefined || port === 443 ? '' : `:${port}`;
      return {
        status: 308,
        why: 'this name is served over https',
        extra: { location: `https://${name}.${opts.domain}${at}${req.url}` },
      };
    }
    return { record, ip, proto: tls ? 'https' : 'http' };
  }

  const server = createServer({
    maxHeaderSize: SERVER_MAX_HEADER,
    headersTimeout: opts.headersTimeoutMs ?? 10_000,
    requestTimeout: 0, // per name, below
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? 5_000,
    connectionsCheckingInterval: opts.checkIntervalMs ?? 1_000,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 408
          : 400;
    rawSocketRefuse(socket, status);
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const v = check(req);
    if ('status' in v) return refuse(res, v.status, v.why, v.extra);
    forwardRequest(req, res, { ...v, pool: opts.pool, logger: log });
  });

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const v = check(req);
    if ('status' in v) return rawSocketRefuse(socket, v.status, v.extra);
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || req.method !== 'GET')
      return rawSocketRefuse(socket, 400);
    const { record, ip, proto } = v;
    if (record.rules.timeouts?.idleMs)
      socket.setTimeout(record.rules.timeouts.idleMs, () => socket.destroy());
    socket.on('error', () => {});
    const headers = requestHeaders(req.rawHeaders, ip, req.headers.host!, proto, ['upgrade']);
    let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
    text += 'Connection: Upgrade\r\n\r\n';
    opts.pool.open(record.name).then(
      (stream) => {
        if (socket.destroyed) return void stream.destroy();
        stream.on('error', () => socket.destroy());
        stream.write(text);
        if (head.length > 0) stream.write(head);
        stream.pipe(socket);
        socket.pipe(stream);
        socket.on('close', () => stream.destroy());
        stream.on('close', () => socket.destroy());
      },
      () => rawSocketRefuse(socket, 502),
    );
  });

  await listenOn(server, opts, (err) => log.log('error', 'http listener', { err: err.message }));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    accept: (socket) => void server.emit('connection', socket),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
