import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { asVdcError } from '../core/errors.ts';
import { listenOn } from '../core/listen-on.ts';
import type { NameRecord } from '../ledger/index.ts';
import { requestHeaders, responseHeaders } from './forward-headers.ts';
import { addressAllowed, clientAddress, DEFAULTS, type FrontOptions } from './name-policy.ts';
import type { UpstreamAnswer, UpstreamExchange } from './upstream.ts';

/*
 * The public HTTP listener (names in `http` mode): routes by Host, enforces the name's
 * rules, and forwards each request as HTTP/1.1, re-written by node's HTTP client, over a
 * kept-alive CONNECT stream of a tunnel (BackendPool.httpRequest). Node's parser
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

const EMPTY = Buffer.alloc(0);

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

function refuse(
  res: ServerResponse,
  status: number,
  why: string,
  extra: Record<string, string> = {},
): void {
  if (res.headersSent) return void res.destroy();
  const body = `${status} ${STATUS_CODES[status]}: ${why}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
    ...extra,
  });
  res.end(body);
}

function rawSocketRefuse(socket: Duplex, status: number, extra: Record<string, string> = {}): void {
  let more = '';
  for (const [k, v] of Object.entries(extra)) more += `${k}: ${v}\r\n`;
  if (socket.writable)
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n${more}\r\n`,
    );
  socket.destroy();
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
    const { record, ip, proto } = v;
    const host = req.headers.host!;
    const rules = record.rules;
    if (rules.timeouts?.idleMs)
      req.socket.setTimeout(rules.timeouts.idleMs, () => req.socket.destroy());
    let upstream: UpstreamExchange | undefined;
    const deadline = setTimeout(() => {
      upstream?.abort(); // its connection may yet carry the late answer: never reused
      if (!res.headersSent) refuse(res, 504, 'the backend did not answer in time');
      else res.destroy();
    }, rules.timeouts?.requestMs ?? DEFAULTS.requestMs);
    deadline.unref();
    res.once('close', () => clearTimeout(deadline));
    const maxBody = rules.maxBodyBytes ?? DEFAULTS.maxBodyBytes;
    // The request is re-written from what node's parser read: framing is the gateway's own
    // (a chunked request body stays chunked), never the client's bytes.
    const chunked = req.headers['transfer-encoding'] !== undefined;
    const length = req.headers['content-length'];
    const body = chunked ? 'chunked' : length === undefined || length === '0' ? 'none' : 'length';
    let status = 0;
    let out: string[] = [];
    const answer: UpstreamAnswer = {
      head(code, headers) {
        status = code;
        out = responseHeaders(headers);
      },
      body(chunk, last) {
        if (res.destroyed) return;
        // The head goes with the first piece of the body: a small answer is one write; a
        // head alone goes at once (server-sent events).
        if (!res.headersSent) {
          res.writeHead(status, out);
          // Not flushHeaders(): it writes the head as UTF-8, an empty Buffer has it sent as
          // the bytes it came as (latin1).
          if (!last && chunk.length === 0) res.write(EMPTY);
        }
        if (last) {
          res.end(chunk.length > 0 ? chunk : undefined);
          // Answered before the upload was all sent (a 413, a refused upload): the rest is
          // read and dropped (the body cap still applies), so the client reads its answer
          // and its connection carries its next request.
          if (!req.complete) req.resume();
          return;
        }
        if (chunk.length > 0 && !res.write(chunk)) {
          upstream?.pause();
          res.once('drain', () => upstream?.resume());
        }
      },
      fail(err) {
        if (err.code !== 'TUNNEL_UNAVAILABLE' || res.headersSent)
          log.log('warn', 'forward failed', {
            name: record.name,
            code: err.code,
            err: err.message,
          });
        refuse(
          res,
          502,
          err.code === 'TUNNEL_UNAVAILABLE' && !res.headersSent
            ? 'no backend answered'
            : 'the backend failed',
        );
      },
    };
    try {
      upstream = opts.pool.exchange(
        record.name,
        {
          method: req.method!,
          path: req.url!,
          headers: requestHeaders(req.rawHeaders, ip, host, proto),
          body,
        },
        answer,
      );
    } catch (err) {
      const code = asVdcError(err).code;
      if (code === 'UPSTREAM_REQUEST_INVALID')
        return refuse(res, 400, 'the request cannot be forwarded as HTTP/1.1');
      return refuse(
        res,
        502,
        code === 'TUNNEL_UNAVAILABLE' ? 'no backend is connected' : 'the backend failed',
      );
    }
    const exchange = upstream;
    res.once('close', () => {
      if (!res.writableFinished) exchange.abort();
    });
    if (body === 'none') return;
    let seen = 0;
    exchange.onDrain = () => req.resume();
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBody) {
        exchange.abort();
        refuse(res, 413, 'body too large');
        return void req.socket.destroy();
      }
      if (!exchange.write(chunk)) req.pause();
    });
    req.on('end', () => exchange.end());
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
