/*
 * Headers across the gateway (RFC 9110 §7.6.1): hop-by-hop headers, and any header the
 * Connection header names, are not forwarded. The gateway is the edge, so what a client
 * sent as X-Forwarded-* or Forwarded is its own claim: it is replaced, never appended to.
 */

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

const EDGE_SET = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-real-ip',
]);

function connectionNamed(raw: readonly string[]): Set<string> {
  const named = new Set<string>();
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i]!.toLowerCase() === 'connection')
      for (const token of raw[i + 1]!.split(','))
        if (token.trim()) named.add(token.trim().toLowerCase());
  return named;
}

/** `raw` (name, value, name, value…) without hop-by-hop headers; `keep` names exceptions. */
export function endToEnd(raw: readonly string[], keep: readonly string[] = []): string[] {
  const named = connectionNamed(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (keep.includes(name)) {
      out.push(raw[i]!, raw[i + 1]!);
      continue;
    }
    if (HOP_BY_HOP.has(name) || named.has(name) || EDGE_SET.has(name)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** The request headers sent to the backend: end-to-end ones plus who the client is. */
export function requestHeaders(
  raw: readonly string[],
  client: string,
  host: string,
  proto: 'http' | 'https',
  keep: readonly string[] = [],
): string[] {
  const node = client.includes(':') ? `"[${client}]"` : client;
  return [
    ...endToEnd(raw, keep),
    'X-Forwarded-For',
    client,
    'X-Forwarded-Proto',
    proto,
    'X-Forwarded-Host',
    host,
    'Forwarded',
    `for=${node};host="${host}";proto=${proto}`,
  ];
}

/** The response headers sent to the client: end-to-end ones only. */
export function responseHeaders(raw: readonly string[]): string[] {
  const named = connectionNamed(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || named.has(name)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}
