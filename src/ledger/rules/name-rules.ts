import { fail } from '../../core/assert.ts';
import type { NameMode, NameRules } from '../projection-state.ts';
import { readCidr, readEnum, readList, readObject, readString, readUint } from '../tx-fields.ts';

/*
 * The traffic rules of a name (DESIGN §9), enforced by the gateway. In tls-passthrough
 * mode the gateway sees only the TLS handshake, so the HTTP-only rules (methods, paths,
 * body and header sizes, request timeout) are refused there rather than silently ignored.
 * `tlsCertSha256` pins the certificate an http-mode name is served with over TLS (the
 * backend presents chain and key over its tunnel; docs/gateway.md): http mode only too,
 * since in tls-passthrough the gateway never holds a certificate for the name.
 */

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export const MAX_PATH_PREFIXES = 32;
export const MAX_CIDRS = 64;
export const MAX_TIMEOUT_MS = 3_600_000;
const PATH_PREFIX = /^\/[\x21-\x7e]{0,255}$/;
const HTTP_ONLY = [
  'methods',
  'pathPrefixes',
  'maxBodyBytes',
  'maxHeaderBytes',
  'tlsCertSha256',
] as const;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const C = 'TX_BODY_INVALID';

function readTimeouts(
  value: unknown,
  label: string,
  mode: NameMode,
): NonNullable<NameRules['timeouts']> {
  const t = readObject(value, label, [], ['connectMs', 'idleMs', 'requestMs'], C);
  const out: NonNullable<NameRules['timeouts']> = {};
  for (const field of ['connectMs', 'idleMs', 'requestMs'] as const)
    if (t[field] !== undefined)
      out[field] = readUint(t[field], `${label}.${field}`, MAX_TIMEOUT_MS, C, 1);
  if (Object.keys(out).length === 0)
    fail(C, `'${label}' sets no timeout: omit it or give connectMs, idleMs or requestMs`);
  if (mode === 'tls-passthrough' && out.requestMs !== undefined)
    fail(C, `'${label}.requestMs' needs mode http: a tls-passthrough gateway cannot see requests`);
  return out;
}

/** @throws VdcError TX_BODY_INVALID naming the field */
export function readNameRules(value: unknown, label: string, mode: NameMode): NameRules {
  const r = readObject(
    value,
    label,
    [],
    [
      'methods',
      'pathPrefixes',
      'rateLimit',
      'allow',
      'deny',
      'maxBodyBytes',
      'maxHeaderBytes',
      'timeouts',
      'tlsCertSha256',
    ],
    C,
  );
  if (mode === 'tls-passthrough')
    for (const field of HTTP_ONLY)
      if (r[field] !== undefined)
        fail(C, `'${label}.${field}' needs mode http: a tls-passthrough gateway cannot see HTTP`);
  const out: NameRules = {};
  if (r['methods'] !== undefined)
    out.methods = readList(
      r['methods'],
      `${label}.methods`,
      HTTP_METHODS.length,
      C,
      (v, l) => readEnum(v, l, HTTP_METHODS, C),
      {
        min: 1,
        unique: true,
      },
    );
  if (r['pathPrefixes'] !== undefined)
    out.pathPrefixes = readList(
      r['pathPrefixes'],
      `${label}.pathPrefixes`,
      MAX_PATH_PREFIXES,
      C,
      (v, l) => readString(v, l, { min: 1, max: 256, pattern: PATH_PREFIX }, C),
      { min: 1, unique: true },
    );
  if (r['rateLimit'] !== undefined) {
    const l = readObject(r['rateLimit'], `${label}.rateLimit`, ['requests', 'perSeconds'], [], C);
    out.rateLimit = {
      requests: readUint(l['requests'], `${label}.rateLimit.requests`, 1_000_000, C, 1),
      perSeconds: readUint(l['perSeconds'], `${label}.rateLimit.perSeconds`, 3600, C, 1),
    };
  }
  for (const field of ['allow', 'deny'] as const)
    if (r[field] !== undefined)
      out[field] = readList(
        r[field],
        `${label}.${field}`,
        MAX_CIDRS,
        C,
        (v, l) => readCidr(v, l, C),
        { unique: true },
      );
  if (r['maxBodyBytes'] !== undefined)
    out.maxBodyBytes = readUint(r['maxBodyBytes'], `${label}.maxBodyBytes`, 2 ** 30, C);
  if (r['maxHeaderBytes'] !== undefined)
    out.maxHeaderBytes = readUint(r['maxHeaderBytes'], `${label}.maxHeaderBytes`, 65_536, C, 1024);
  if (r['timeouts'] !== undefined)
    out.timeouts = readTimeouts(r['timeouts'], `${label}.timeouts`, mode);
  if (r['tlsCertSha256'] !== undefined)
    out.tlsCertSha256 = readString(
      r['tlsCertSha256'],
      `${label}.tlsCertSha256`,
      { min: 64, max: 64, pattern: SHA256_HEX },
      C,
    );
  return out;
}
