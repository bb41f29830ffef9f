import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { fail } from '../core/assert.ts';
import { toHex } from '../core/hex.ts';
import { JsonRouter } from '../core/http-json.ts';
import { openEventStream, writeEvent } from '../core/sse.ts';
import { ledgerHomePage } from './ledger-home-page.ts';
import type { LedgerEvent, LedgerService } from './ledger-service.ts';
import type { Leaf } from './log-leaf.ts';
import { MAX_SUBMISSION_BYTES } from './tx-format.ts';

/*
 * The ledger's HTTP API (docs/ledger.md, "API"). Everything a client needs to verify the
 * log is here: the key, signed heads, leaves, and RFC 9162 proofs. The /v1/state answers
 * are for people and dashboards; anything that makes a security decision keeps its own
 * projection (ledger-follower.ts) instead of believing them.
 */

/** Bytes a slow event-stream reader may leave unread before it is cut off (it resumes by `from`). */
const MAX_STREAM_BACKLOG_BYTES = 8 * 1024 * 1024;

function intParam(query: URLSearchParams, name: string, fallback?: number): number {
  const raw = query.get(name);
  if (raw === null) {
    if (fallback === undefined) fail('INPUT_INVALID', `the query parameter '${name}' is required`);
    return fallback;
  }
  if (!/^(0|[1-9][0-9]{0,15})$/.test(raw))
    fail(
      'INPUT_INVALID',
      `'${name}' must be a non-negative integer, got ${JSON.stringify(raw.slice(0, 20))}`,
    );
  return Number(raw);
}

function idParam(value: string | undefined, label: string): number {
  if (value === undefined || !/^[1-9][0-9]{0,15}$/.test(value))
    fail('INPUT_INVALID', `'${label}' must be a positive integer id`);
  return Number(value);
}

function found<T>(value: T | undefined, what: string): T {
  if (value === undefined) fail('STATE_NOT_FOUND', `${what} is not on this ledger`);
  return value;
}

export function ledgerRouter(service: LedgerService): JsonRouter {
  const p = service.projection;
  const router = new JsonRouter({
    maxBodyBytes: MAX_SUBMISSION_BYTES,
    guard: () => service.assertHealthy(),
  });
  router
    .on('GET', '/', ({ res }) => {
      const html = ledgerHomePage(service);
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
      });
      res.end(html);
    })
    .on('GET', '/v1/ledger', () => ({ ledger: service.ledger, key: toHex(service.publicKey) }))
    .on('GET', '/v1/head', () => service.head)
    .on('POST', '/v1/submit', ({ body }) => service.submit(body))
    .on('GET', '/v1/entries', async ({ query }) => ({
      entries: await service.entries(intParam(query, 'from', 0), intParam(query, 'limit', 1000)),
    }))
    .on('GET', '/v1/proofs/inclusion', ({ query }) =>
      service.inclusionProof(intParam(query, 'seq'), intParam(query, 'size', service.head.size)),
    )
    .on('GET', '/v1/proofs/consistency', ({ query }) =>
      service.consistencyProof(intParam(query, 'from'), intParam(query, 'to', service.head.size)),
    )
    .on('GET', '/v1/stream', ({ query, res }) => {
      streamEvents(service, intParam(query, 'from', service.head.size), res);
      return undefined;
    })
    .on('GET', '/v1/state/twins/:id', ({ params }) =>
      found(p.twin(idParam(params['id'], 'twin')), `twin ${params['id']}`),
    )
    .on('GET', '/v1/state/keys/:key', ({ params }) => {
      const key = params['key'] ?? '';
      const twin = p.twinByKey(key) ?? p.delegation(key);
      return found(twin, `key ${key.slice(0, 16)}…`);
    })
    .on('GET', '/v1/state/farms/:id', ({ params }) =>
      found(p.farm(idParam(params['id'], 'farm')), `farm ${params['id']}`),
    )
    .on('GET', '/v1/state/nodes/:id', ({ params }) =>
      found(p.node(idParam(params['id'], 'node')), `node ${params['id']}`),
    )
    .on('GET', '/v1/state/gateways/:id', ({ params }) =>
      found(p.gateway(idParam(params['id'], 'gateway')), `gateway ${params['id']}`),
    )
    .on('GET', '/v1/state/contracts/:id', ({ params }) =>
      found(p.contract(idParam(params['id'], 'contract')), `contract ${params['id']}`),
    )
    .on('GET', '/v1/state/names/:name', ({ params }) =>
      found(p.name(params['name'] ?? ''), `name ${params['name']}`),
    );
  return router;
}

/** Live events a reader may have waiting while its backlog is sent, before it is cut off. */
const MAX_HELD_EVENTS = 10_000;

/**
 * Streams leaves from `from` (the backlog first, then live) and every new head, as
 * server-sent events `leaf` and `head`. Live events that arrive while the backlog is being
 * read are held and sent in order, each leaf exactly once. A reader that falls too far
 * behind is cut off; it resumes with `from`.
 */
function streamEvents(service: LedgerService, from: number, res: ServerResponse): void {
  if (from > service.head.size)
    fail('INPUT_INVALID', `'from' is ${from}, beyond the log's ${service.head.size} entries`);
  openEventStream(res);
  let next = from;
  let replaying = true;
  const held: LedgerEvent[] = [];
  const closed = once(res, 'close').catch(() => undefined);
  /** Writes one event; false when the socket's buffer is full and the writer should wait for 'drain'. */
  const send = (event: LedgerEvent): boolean => {
    let flushed = true;
    if (event.kind === 'leaf') {
      if (event.leaf.seq !== next) return true;
      next++;
      flushed = writeEvent(res, 'leaf', JSON.stringify(event.leaf), String(event.leaf.seq));
    } else {
      flushed = writeEvent(res, 'head', JSON.stringify(event.head));
    }
    if (res.writableLength > MAX_STREAM_BACKLOG_BYTES) res.destroy();
    return flushed;
  };
  const unsubscribe = service.subscribe((event) => {
    if (!replaying) send(event);
    else if (held.push(event) > MAX_HELD_EVENTS) res.destroy();
  });
  void closed.then(unsubscribe);
  void (async () => {
    try {
      writeEvent(res, 'head', JSON.stringify(service.head));
      for (;;) {
        const page: Leaf[] = await service.entries(next);
        if (page.length === 0 || res.destroyed) break;
        let flushed = true;
        for (const leaf of page) flushed = send({ kind: 'leaf', leaf }) && flushed;
        if (!flushed) await Promise.race([once(res, 'drain'), closed]);
      }
      replaying = false;
      for (const event of held.splice(0)) send(event);
    } catch {
      // The reader resumes from the last leaf it got; nothing to answer on a broken stream.
      res.destroy();
    }
  })();
}
