import { BlockList, isIPv4 } from 'node:net';
import type { Logger } from '../core/log.ts';
import type { NameRecord } from '../ledger/index.ts';
import type { BackendPool } from './backend-pool.ts';

/*
 * The per-name rules both fronts enforce before anything is forwarded: which client
 * addresses may connect (allow, then deny), and how often (a token bucket per name and
 * client address). Defaults for what a name leaves unset are in docs/gateway.md.
 */

/** What both public listeners (http-front, tls-front) are given. */
export interface FrontOptions {
  host: string;
  port: number;
  domain: string;
  /** the name contract if NAME is served here now */
  lookup: (name: string) => NameRecord | undefined;
  pool: BackendPool;
  limiter: RateLimiter;
  logger: Logger;
}

export const DEFAULTS = {
  maxHeaderBytes: 16_384,
  maxBodyBytes: 16 * 1024 * 1024,
  /** longest a request may take from its first header byte to the end of the response */
  requestMs: 300_000,
  idleMs: 120_000,
  /** time for a TLS client to send its ClientHello */
  connectMs: 10_000,
} as const;

/** The client address as one spelling: IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes a.b.c.d. */
export function clientAddress(remote: string | undefined): string {
  const a = remote ?? '';
  return a.startsWith('::ffff:') && isIPv4(a.slice(7)) ? a.slice(7) : a;
}

function blockList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net, bits] = cidr.split('/');
    const type = isIPv4(net!) ? 'ipv4' : 'ipv6';
    list.addSubnet(net!, Number(bits ?? (type === 'ipv4' ? 32 : 128)), type);
  }
  return list;
}

const lists = new WeakMap<NameRecord, { allow?: BlockList; deny?: BlockList }>();

/** Whether `ip` may reach the name: inside `allow` when it is set, and not inside `deny`. */
export function addressAllowed(record: NameRecord, ip: string): boolean {
  let l = lists.get(record);
  if (!l) {
    l = {
      ...(record.rules.allow ? { allow: blockList(record.rules.allow) } : {}),
      ...(record.rules.deny ? { deny: blockList(record.rules.deny) } : {}),
    };
    lists.set(record, l);
  }
  const type = isIPv4(ip) ? 'ipv4' : 'ipv6';
  if (l.allow && !l.allow.check(ip, type)) return false;
  if (l.deny?.check(ip, type)) return false;
  return true;
}

/** Token buckets per (name, client address); bounded, the least recently used dropped first. */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #max: number;
  readonly #now: () => number;

  constructor(maxEntries = 100_000, now: () => number = Date.now) {
    this.#max = maxEntries;
    this.#now = now;
  }

  /** Takes one token; returns 0 when allowed, else the seconds until one is available. */
  take(record: NameRecord, ip: string): number {
    const limit = record.rules.rateLimit;
    if (!limit) return 0;
    const key = `${record.name}|${ip}`;
    const now = this.#now();
    const rate = limit.requests / (limit.perSeconds * 1000);
    const b = this.#buckets.get(key) ?? { tokens: limit.requests, at: now };
    this.#buckets.delete(key);
    b.tokens = Math.min(limit.requests, b.tokens + (now - b.at) * rate);
    b.at = now;
    this.#buckets.set(key, b);
    if (this.#buckets.size > this.#max) this.#buckets.delete(this.#buckets.keys().next().value!);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / rate / 1000));
  }
}
