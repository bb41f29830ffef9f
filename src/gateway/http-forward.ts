import type { IncomingMessage, ServerResponse } from 'node:http';
import { asVdcError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { NameRecord } from '../ledger/index.ts';
import type { BackendPool } from './backend-pool.ts';
import { refuse } from './client-refusal.ts';
import { requestHeaders, responseHeaders } from './forward-headers.ts';
import { DEFAULTS } from './name-policy.ts';
import type { UpstreamAnswer, UpstreamExchange } from './upstream.ts';

/*
 * One http-mode request that the public listener has checked, sent to the name's target
 * through a tunnel (upstream.ts) and its answer relayed to the client: the name's request
 * deadline and body cap, backpressure both ways, and what happens when either side goes
 * away early (docs/gateway.md, "Tunnel protocol").
 */

export interface Forwarding {
  record: NameRecord;
  /** the client's address, for the forwarding headers */
  ip: string;
  proto: 'http' | 'https';
  pool: BackendPool;
  logger: Logger;
}

const EMPTY = Buffer.alloc(0);

export function forwardRequest(req: IncomingMessage, res: ServerResponse, f: Forwarding): void {
  const { record, ip, proto } = f;
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
        f.logger.log('warn', 'forward failed', {
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
    upstream = f.pool.exchange(
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
      refuse(res, 400, 'the request cannot be forwarded as HTTP/1.1');
    else
      refuse(
        res,
        502,
        code === 'TUNNEL_UNAVAILABLE' ? 'no backend is connected' : 'the backend failed',
      );
    return;
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
}
