import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fail } from '../../core/assert.ts';
import { type Clock, systemClock } from '../../core/clock.ts';
import { asVdcError } from '../../core/errors.ts';
import { listenOn } from '../../core/listen-on.ts';
import type { Logger } from '../../core/log.ts';
import type { ZstorStore } from '../zstor-store.ts';
import { Multipart } from './multipart.ts';
import type { S3Credentials } from './s3-credentials.ts';
import { s3ErrorResponse } from './s3-errors.ts';
import { S3Objects } from './s3-objects.ts';
import { DEFAULT_LIMITS, type S3Context, type S3Limits } from './s3-request.ts';
import { routeS3 } from './s3-router.ts';
import { parseQuery, splitUrl, verifySigV4 } from './sigv4.ts';

/*
 * The S3 endpoint: node:http, one access key pair, every request authenticated (SigV4)
 * before its body is read, then routed. Errors become S3 XML documents here and nowhere
 * else. Header size is capped by node (maxHeaderSize); bodies stream into the store.
 */

export interface S3ServerOptions {
  readonly store: ZstorStore;
  readonly credentials: S3Credentials;
  readonly host?: string;
  readonly port?: number;
  readonly clock?: Clock;
  readonly limits?: Partial<S3Limits>;
  readonly logger?: Logger;
  /** Versions kept per object on overwrite (default DEFAULT_KEEP_VERSIONS, 2). */
  readonly keepVersions?: number;
}

export interface S3Server {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Request line and headers together at most this many bytes (node answers 431 past it). */
export const MAX_HEADER_BYTES = 16 * 1024;
/** A connection that sends or receives nothing for this long is closed. */
export const IDLE_TIMEOUT_MS = 120_000;

/** The request listener, testable without a socket. */
export function s3Listener(
  opts: S3ServerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const objects = new S3Objects(opts.store, { keepVersions: opts.keepVersions });
  const limits: S3Limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const mp = new Multipart(objects, limits.minPartBytes);
  const clock = opts.clock ?? systemClock;
  const secretOf = (id: string) =>
    id === opts.credentials.accessKeyId ? opts.credentials.secretAccessKey : undefined;

  return (req, res) => {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('server', 'vdc-s3');
    const url = req.url ?? '/';
    const { path } = splitUrl(url);
    const handle = async () => {
      const pairs: [string, string][] = [];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
        pairs.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
      const auth = verifySigV4(
        { method: req.method ?? 'GET', url, headers: pairs },
        { secretOf, now: clock.now() },
      );
      const segments = /^\/([^/?]*)(?:\/(.*))?$/s.exec(path);
      if (segments?.[1] === '' && segments[2] !== undefined)
        fail('S3_INVALID_BUCKET_NAME', 'the path has an empty bucket name: use /BUCKET/KEY');
      const bucket = segments?.[1] ? decodeURIComponent(segments[1]) : undefined;
      const key = segments?.[2] ? decodeURIComponent(segments[2]) : undefined;
      const ctx: S3Context = {
        req,
        res,
        method: req.method ?? 'GET',
        bucket,
        key,
        query: new Map(parseQuery(splitUrl(url).query)),
        headers: new Map(
          Object.entries(req.headers).map(([k, v]) => [
            k,
            Array.isArray(v) ? v.join(',') : (v ?? ''),
          ]),
        ),
        auth,
        limits,
      };
      await routeS3(ctx, objects, mp);
    };
    handle().catch((err: unknown) => {
      const e = asVdcError(err);
      const out = s3ErrorResponse(e, path, requestId);
      if (out.status >= 500)
        opts.logger?.log('error', 's3 request failed', {
          requestId,
          code: e.code,
          message: e.message,
        });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // A body we did not read (refused before or while reading it) is not drained: the
      // connection closes after the answer, so a refused upload costs us nothing more.
      if (!req.complete) res.setHeader('connection', 'close');
      const head = req.method === 'HEAD';
      res.writeHead(out.status, {
        'content-type': 'application/xml',
        'content-length': head ? '0' : String(Buffer.byteLength(out.body)),
      });
      res.end(head ? undefined : out.body);
      if (!req.complete) req.resume();
    });
  };
}

/**
 * Serves S3 on HOST:PORT (default 127.0.0.1, an ephemeral port).
 * @throws the listen error (address in use, …)
 */
export async function startS3Server(opts: S3ServerOptions): Promise<S3Server> {
  const server: Server = createServer(
    { maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 0, headersTimeout: 60_000 },
    s3Listener(opts),
  );
  server.keepAliveTimeout = 5_000;
  // A connection idle this long is closed: a client that stalls mid-upload would otherwise
  // hold the store's one writer slot (requestTimeout is off so long uploads may run).
  server.setTimeout(IDLE_TIMEOUT_MS);
  const host = opts.host ?? '127.0.0.1';
  await listenOn(server, { host, port: opts.port ?? 0 }, (err) =>
    opts.logger?.log('error', 's3 listener', { err: err.message }),
  );
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
