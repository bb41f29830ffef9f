import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail } from './assert.ts';
import type { JsonValue } from './canonical-json.ts';
import { asVdcError, httpStatusOf, VdcError } from './errors.ts';
import { parseJson } from './strict-json.ts';

/*
 * The edge of VDC's JSON-over-HTTP servers: bounded bodies, strict JSON, a small router,
 * and VdcErrors mapped to statuses with `{error: {code, message}}` bodies. Handlers are plain
 * functions of a request context, so they are tested in-process without a socket.
 */

export interface HttpRequestContext {
  method: string;
  path: string;
  query: URLSearchParams;
  params: Record<string, string>;
  /** The parsed JSON body (POST/PUT), or undefined. */
  body: JsonValue | undefined;
  req: IncomingMessage;
  res: ServerResponse;
}

/** What a handler returns: a JSON value (status 200), or `undefined` when it answered `res` itself. */
export type HttpHandler = (ctx: HttpRequestContext) => Promise<unknown> | unknown;

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: HttpHandler;
}

export class JsonRouter {
  readonly #routes: Route[] = [];
  readonly #maxBodyBytes: number;
  readonly #guard: (() => void) | undefined;

  /** `guard` runs before every route; what it throws is answered instead (e.g. a service that failed). */
  constructor(opts: { maxBodyBytes?: number; guard?: () => void } = {}) {
    this.#maxBodyBytes = opts.maxBodyBytes ?? 1024 * 1024;
    this.#guard = opts.guard;
  }

  /** Adds a route; `path` may hold `:name` segments, matched as one non-empty segment. */
  on(method: string, path: string, handler: HttpHandler): this {
    const names: string[] = [];
    const pattern = new RegExp(
      `^${path.replace(/:([a-zA-Z]+)/g, (_, name: string) => {
        names.push(name);
        return '([^/]+)';
      })}$`,
    );
    this.#routes.push({ method, pattern, names, handler });
    return this;
  }

  /** The node:http request listener. */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => {
    this.#handle(req, res).catch((err: unknown) => {
      // An answer before the whole body arrived ends the connection: its rest is not a request.
      if (!req.complete && !res.headersSent) res.setHeader('connection', 'close');
      sendError(res, err);
    });
  };

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      // Only origin-form targets ("/path?query"); "//x" or "http://x/" would be read as hosts.
      if (!(req.url ?? '').startsWith('/') || (req.url ?? '').startsWith('//'))
        throw new Error('not origin-form');
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch (cause) {
      fail(
        'INPUT_INVALID',
        `the request target ${JSON.stringify((req.url ?? '').slice(0, 100))} is not a path`,
        cause,
      );
    }
    this.#guard?.();
    const method = req.method ?? 'GET';
    let allowed = false;
    for (const route of this.#routes) {
      const m = route.pattern.exec(url.pathname);
      if (!m) continue;
      allowed = true;
      if (route.method !== method) continue;
      const params: Record<string, string> = {};
      route.names.forEach((name, i) => {
        try {
          params[name] = decodeURIComponent(m[i + 1] ?? '');
        } catch (cause) {
          fail(
            'INPUT_INVALID',
            `the path segment for '${name}' is not valid percent-encoding`,
            cause,
          );
        }
      });
      const body =
        method === 'POST' || method === 'PUT'
          ? await readJsonBody(req, this.#maxBodyBytes)
          : undefined;
      const result = await route.handler({
        method,
        path: url.pathname,
        query: url.searchParams,
        params,
        body,
        req,
        res,
      });
      if (result !== undefined && !res.headersSent) sendJson(res, 200, result);
      return;
    }
    if (allowed) fail('METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname}`);
    fail('ENDPOINT_NOT_FOUND', `no such endpoint: ${url.pathname}; see the API in docs/`);
  }
}

/**
 * Reads a request body of at most `maxBytes` and parses it strictly.
 * @throws VdcError INPUT_TOO_LARGE, JSON_*
 */
export function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<JsonValue> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes)
    fail('INPUT_TOO_LARGE', `the body is ${declared} bytes; at most ${maxBytes} are accepted`);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      req.off('data', onData).off('end', onEnd);
      // Answer while the client still sends: the rest is read and dropped (destroying the
      // socket now would reset the connection and lose the answer), for a few seconds at most.
      req.resume();
      setTimeout(() => req.socket.destroy(), 5_000).unref();
      reject(new VdcError('INPUT_TOO_LARGE', `the body exceeds ${maxBytes} bytes`));
    };
    const onEnd = () => {
      try {
        resolve(parseJson(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    };
    req.on('data', onData).once('end', onEnd).once('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const error = asVdcError(err);
  if (res.headersSent) {
    res.destroy(error);
    return;
  }
  sendJson(res, httpStatusOf(error), { error: error.toJSON() });
}
