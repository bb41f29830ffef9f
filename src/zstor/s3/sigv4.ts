import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { fail } from '../../core/assert.ts';

/*
 * AWS Signature Version 4 as S3 checks it (AWS docs "Authenticating Requests: Using the
 * Authorization Header" and "…: Using Query Parameters"): canonical request → string to
 * sign → HMAC chain from the secret. The server recomputes the signature over what it
 * received and compares in constant time. S3 differs from the generic SigV4 test suite in
 * two ways followed here: the path is not normalised (no `.`/`..` folding, no double
 * encoding), and the payload hash is whatever x-amz-content-sha256 says.
 */

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
/** How far a signed request's clock may be from ours (S3 allows 15 minutes). */
export const MAX_SKEW_MS = 15 * 60 * 1000;
/** Presigned URLs live at most 7 days, as in S3. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

/** What the signature covers of a request, as received. */
export interface SignableRequest {
  readonly method: string;
  /** The raw request target: path and query, percent-encoded as sent. */
  readonly url: string;
  /** Raw header pairs (node's `rawHeaders` as pairs). */
  readonly headers: readonly (readonly [string, string])[];
}

export interface VerifiedRequest {
  readonly accessKeyId: string;
  /** The x-amz-content-sha256 value the signature covers (a hex hash or a mode). */
  readonly payloadHash: string;
  readonly presigned: boolean;
  /** For STREAMING-AWS4-HMAC-SHA256-PAYLOAD: what each chunk's signature chains from. */
  readonly streaming?: ChunkSigning | undefined;
}

/** The signing context of a signed-chunk body; `seed` is the request's own signature. */
export interface ChunkSigning {
  readonly key: Buffer;
  readonly amzDate: string;
  readonly scope: string;
  readonly seed: string;
}

/**
 * The signature of one aws-chunked chunk (AWS docs "Transferring Payload in Multiple
 * Chunks"): it chains from the previous chunk's signature (the seed for the first).
 */
export function chunkSignature(c: ChunkSigning, previous: string, chunkSha256: string): string {
  return sign(
    c.key,
    ['AWS4-HMAC-SHA256-PAYLOAD', c.amzDate, c.scope, previous, EMPTY_SHA256, chunkSha256].join(
      '\n',
    ),
  );
}

/** Constant-time equality of a received hex signature with the expected one. */
export function signatureMatches(received: string, expected: string): boolean {
  return constantTimeEqualHex(received, expected);
}

/** RFC 3986 encoding as SigV4 wants it: unreserved characters kept, the rest %XX (upper). */
export function uriEncode(text: string, encodeSlash = true): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (!encodeSlash && c === '/')) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return fail(
      'S3_INVALID_ARGUMENT',
      `${what} has a malformed percent-encoding: ${part.slice(0, 80)}`,
    );
  }
}

/** Splits the raw query into decoded pairs, in order (no '+' to space: S3 clients send %20). */
export function parseQuery(rawQuery: string): [string, string][] {
  if (rawQuery === '') return [];
  return rawQuery.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const k = eq < 0 ? pair : pair.slice(0, eq);
    const v = eq < 0 ? '' : pair.slice(eq + 1);
    return [decode(k, 'a query parameter name'), decode(v, `query parameter ${k}`)];
  });
}

export function splitUrl(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q < 0 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

export function canonicalUri(rawPath: string): string {
  return rawPath
    .split('/')
    .map((seg) => uriEncode(decode(seg, 'the path')))
    .join('/');
}

export function canonicalQuery(pairs: readonly (readonly [string, string])[]): string {
  return pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** Lower-cased header name → values trimmed, inner runs of spaces collapsed, joined by ','. */
export function headerMap(headers: readonly (readonly [string, string])[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const [name, value] of headers) {
    const k = name.toLowerCase();
    const v = value.trim().replace(/ +/g, ' ');
    map.set(k, map.has(k) ? `${map.get(k)},${v}` : v);
  }
  return map;
}

export function canonicalRequest(
  method: string,
  rawPath: string,
  query: readonly (readonly [string, string])[],
  headers: ReadonlyMap<string, string>,
  signedHeaders: readonly string[],
  payloadHash: string,
): string {
  const lines = signedHeaders.map((h) => `${h}:${headers.get(h) ?? ''}\n`).join('');
  return [
    method,
    canonicalUri(rawPath),
    canonicalQuery(query),
    lines,
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return [ALGORITHM, amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join(
    '\n',
  );
}

/** kSigning = HMAC chain over date, region, service and "aws4_request", from "AWS4"+secret. */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const h = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
  return h(h(h(h(`AWS4${secret}`, date), region), service), 'aws4_request');
}

export function sign(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('hex');
}

/** Parses "YYYYMMDDTHHMMSSZ" to epoch ms. */
export function parseAmzDate(
  value: string,
  code: 'S3_AUTH_MALFORMED' | 'S3_ACCESS_DENIED',
): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  const ms = m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : Number.NaN;
  if (!m || Number.isNaN(ms) || new Date(ms).getUTCDate() !== +m[3]!)
    fail(code, `X-Amz-Date must be YYYYMMDDTHHMMSSZ, got ${JSON.stringify(value.slice(0, 40))}`);
  return ms;
}

export function formatAmzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

interface Credential {
  accessKeyId: string;
  date: string;
  region: string;
  scope: string;
}

function parseCredential(value: string): Credential {
  const parts = value.split('/');
  if (parts.length !== 5 || parts[3] !== 's3' || parts[4] !== 'aws4_request')
    fail(
      'S3_AUTH_MALFORMED',
      `the credential must be ACCESS_KEY/YYYYMMDD/REGION/s3/aws4_request, got ${JSON.stringify(value.slice(0, 200))}`,
    );
  const [accessKeyId, date, region] = parts as [string, string, string];
  if (!/^\d{8}$/.test(date) || !/^[a-z0-9-]{1,32}$/.test(region))
    fail(
      'S3_AUTH_MALFORMED',
      `the credential scope ${JSON.stringify(value.slice(0, 200))} is malformed`,
    );
  return { accessKeyId, date, region, scope: parts.slice(1).join('/') };
}

function parseSignedHeaders(value: string): string[] {
  const list = value.split(';');
  if (!list.every((h) => /^[a-z0-9-]+$/.test(h)) || list.join(';') !== [...list].sort().join(';'))
    fail(
      'S3_AUTH_MALFORMED',
      `SignedHeaders must be sorted lower-case names joined by ';', got ${JSON.stringify(value.slice(0, 200))}`,
    );
  if (!list.includes('host')) fail('S3_AUTH_MALFORMED', 'SignedHeaders must include host');
  return list;
}

function constantTimeEqualHex(a: string, b: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(a)) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

/** Every x-amz-* header present must be signed, so none can be added or changed in transit. */
function requireSigned(headers: ReadonlyMap<string, string>, signed: readonly string[]): void {
  for (const name of headers.keys())
    if (name.startsWith('x-amz-') && !signed.includes(name))
      fail(
        'S3_ACCESS_DENIED',
        `the header ${name} is present but not signed: sign every x-amz-* header`,
      );
}

export interface VerifyOptions {
  /** The secret of an access key id, or undefined when the id is unknown. */
  readonly secretOf: (accessKeyId: string) => string | undefined;
  readonly now: number;
}

/**
 * Checks the SigV4 signature of a request, from its Authorization header or its presigned
 * query; returns who signed it and the payload hash the signature binds.
 * @throws VdcError S3_ACCESS_DENIED (no or unsupported auth), S3_AUTH_MALFORMED,
 *   S3_ACCESS_KEY_UNKNOWN, S3_SIGNATURE_MISMATCH, S3_TIME_SKEWED, S3_REQUEST_EXPIRED, S3_NOT_IMPLEMENTED
 */
export function verifySigV4(req: SignableRequest, opts: VerifyOptions): VerifiedRequest {
  const { path, query: rawQuery } = splitUrl(req.url);
  const query = parseQuery(rawQuery);
  const headers = headerMap(req.headers);
  const auth = headers.get('authorization');
  const q = new Map(query);
  if (auth !== undefined && q.has('X-Amz-Signature'))
    fail(
      'S3_AUTH_MALFORMED',
      'a request carries either an Authorization header or a presigned query, not both',
    );
  if (auth === undefined && !q.has('X-Amz-Signature'))
    fail(
      'S3_ACCESS_DENIED',
      'the request is not signed: sign it with AWS Signature Version 4 (anonymous access is refused)',
    );

  let cred: Credential;
  let signed: string[];
  let signature: string;
  let amzDate: string;
  let payloadHash: string;
  let canonicalPairs = query;
  if (auth !== undefined) {
    if (!auth.startsWith(`${ALGORITHM} `))
      fail(
        'S3_ACCESS_DENIED',
        `only ${ALGORITHM} (Signature Version 4) is accepted, not ${JSON.stringify(auth.split(' ')[0]?.slice(0, 40))}`,
      );
    const fields = new Map<string, string>();
    for (const part of auth.slice(ALGORITHM.length + 1).split(',')) {
      const eq = part.indexOf('=');
      if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    const c = fields.get('Credential');
    const sh = fields.get('SignedHeaders');
    const sg = fields.get('Signature');
    if (c === undefined || sh === undefined || sg === undefined)
      fail(
        'S3_AUTH_MALFORMED',
        'the Authorization header needs Credential, SignedHeaders and Signature',
      );
    cred = parseCredential(c);
    signed = parseSignedHeaders(sh);
    signature = sg;
    const xDate = headers.get('x-amz-date');
    if (xDate !== undefined) amzDate = xDate;
    else {
      const d = Date.parse(headers.get('date') ?? '');
      if (Number.isNaN(d))
        fail('S3_ACCESS_DENIED', 'a signed request needs an X-Amz-Date (or Date) header');
      amzDate = formatAmzDate(d);
    }
    const time = parseAmzDate(amzDate, 'S3_AUTH_MALFORMED');
    if (Math.abs(opts.now - time) > MAX_SKEW_MS)
      fail(
        'S3_TIME_SKEWED',
        `the request time ${amzDate} is more than 15 minutes from the server's ${formatAmzDate(opts.now)}: fix the client's clock`,
      );
    const declared = headers.get('x-amz-content-sha256');
    if (declared === undefined)
      fail(
        'S3_INVALID_ARGUMENT',
        'a header-signed request needs x-amz-content-sha256 (a SHA-256 hex, UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER)',
      );
    payloadHash = declared;
  } else {
    if (q.get('X-Amz-Algorithm') !== ALGORITHM)
      fail('S3_AUTH_MALFORMED', `X-Amz-Algorithm must be ${ALGORITHM}`);
    const c = q.get('X-Amz-Credential');
    const sh = q.get('X-Amz-SignedHeaders');
    const d = q.get('X-Amz-Date');
    const ex = q.get('X-Amz-Expires');
    if (c === undefined || sh === undefined || d === undefined || ex === undefined)
      fail(
        'S3_AUTH_MALFORMED',
        'a presigned URL needs X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature',
      );
    cred = parseCredential(c);
    signed = parseSignedHeaders(sh);
    signature = q.get('X-Amz-Signature')!;
    amzDate = d;
    if (!/^[0-9]{1,7}$/.test(ex) || +ex < 1 || +ex > MAX_PRESIGN_SECONDS)
      fail(
        'S3_AUTH_MALFORMED',
        `X-Amz-Expires must be 1..${MAX_PRESIGN_SECONDS} seconds, got ${JSON.stringify(ex.slice(0, 20))}`,
      );
    const time = parseAmzDate(amzDate, 'S3_AUTH_MALFORMED');
    if (opts.now < time - MAX_SKEW_MS)
      fail('S3_REQUEST_EXPIRED', `the presigned URL is not valid before ${amzDate}`);
    if (opts.now > time + +ex * 1000)
      fail(
        'S3_REQUEST_EXPIRED',
        `the presigned URL expired at ${formatAmzDate(time + +ex * 1000)} (signed ${amzDate}, valid ${ex} s): ask for a new one`,
      );
    canonicalPairs = query.filter(([k]) => k !== 'X-Amz-Signature');
    payloadHash = headers.get('x-amz-content-sha256') ?? UNSIGNED_PAYLOAD;
  }
  if (amzDate.slice(0, 8) !== cred.date)
    fail(
      'S3_AUTH_MALFORMED',
      `the credential date ${cred.date} is not the request date ${amzDate.slice(0, 8)}`,
    );
  requireSigned(headers, signed);
  const secret = opts.secretOf(cred.accessKeyId);
  if (secret === undefined)
    fail(
      'S3_ACCESS_KEY_UNKNOWN',
      `the access key id ${JSON.stringify(cred.accessKeyId.slice(0, 64))} is not known here: see 'vdc s3 credentials'`,
    );
  const canonical = canonicalRequest(
    req.method,
    path,
    canonicalPairs,
    headers,
    signed,
    payloadHash,
  );
  const key = signingKey(secret, cred.date, cred.region, 's3');
  const expected = sign(key, stringToSign(amzDate, cred.scope, canonical));
  if (!constantTimeEqualHex(signature, expected))
    fail(
      'S3_SIGNATURE_MISMATCH',
      'the request signature does not match: check the secret key and that nothing changed the request on the way',
    );
  return {
    accessKeyId: cred.accessKeyId,
    payloadHash,
    presigned: auth === undefined,
    streaming:
      auth !== undefined && payloadHash === STREAMING_SIGNED
        ? { key, amzDate, scope: cred.scope, seed: signature }
        : undefined,
  };
}
