import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail } from '../../core/assert.ts';
import {
  type BodyChecks,
  CHECKSUM_ALGORITHMS,
  decodeAwsChunked,
  type MeteredBody,
  meteredBody,
} from './body-stream.ts';
import { type XmlNode, xmlDocument } from './s3-xml.ts';
import {
  STREAMING_SIGNED,
  STREAMING_UNSIGNED_TRAILER,
  UNSIGNED_PAYLOAD,
  type VerifiedRequest,
} from './sigv4.ts';

/** One authenticated S3 request, as the handlers see it. */
export interface S3Context {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly bucket: string | undefined;
  readonly key: string | undefined;
  readonly query: ReadonlyMap<string, string>;
  readonly headers: ReadonlyMap<string, string>;
  readonly auth: VerifiedRequest;
  readonly limits: S3Limits;
}

export interface S3Limits {
  /** Largest single PUT body (S3: 5 GiB). */
  readonly maxObjectBytes: number;
  /** Largest XML request body. */
  readonly maxXmlBytes: number;
  /** Smallest part but the last of a multipart upload (S3: 5 MiB). */
  readonly minPartBytes: number;
}

export const DEFAULT_LIMITS: S3Limits = {
  maxObjectBytes: 5 * 1024 ** 3,
  maxXmlBytes: 1024 * 1024,
  minPartBytes: 5 * 1024 * 1024,
};

const MAX_USER_META_BYTES = 2048;

/**
 * The request body as it arrives, aws-chunked framing removed, with every check the
 * request declared (see body-stream.ts).
 * @throws VdcError S3_MISSING_CONTENT_LENGTH, S3_ENTITY_TOO_LARGE, S3_NOT_IMPLEMENTED
 */
export function requestBody(ctx: S3Context, maxBytes: number): MeteredBody {
  const { headers, auth } = ctx;
  const hash = auth.payloadHash;
  let source: AsyncIterable<Uint8Array> = ctx.req;
  let length: number | undefined;
  let trailers: ReadonlyMap<string, string> = new Map();
  const lengthOf = (name: string): number | undefined => {
    const v = headers.get(name);
    if (v === undefined) return undefined;
    if (!/^[0-9]{1,16}$/.test(v))
      fail(
        'S3_INVALID_ARGUMENT',
        `${name} must be a byte count, got ${JSON.stringify(v.slice(0, 20))}`,
      );
    return Number(v);
  };
  if (hash.startsWith('STREAMING-')) {
    if (
      hash !== STREAMING_UNSIGNED_TRAILER &&
      (hash !== STREAMING_SIGNED || auth.streaming === undefined)
    )
      fail(
        'S3_NOT_IMPLEMENTED',
        `x-amz-content-sha256 ${hash.slice(0, 60)} is not supported: use ${STREAMING_SIGNED} (Authorization header), ${STREAMING_UNSIGNED_TRAILER}, UNSIGNED-PAYLOAD or the body's SHA-256`,
      );
    const decoded = decodeAwsChunked(
      ctx.req,
      hash === STREAMING_SIGNED ? auth.streaming : undefined,
    );
    source = decoded.pieces;
    trailers = decoded.trailers;
    length = lengthOf('x-amz-decoded-content-length');
  } else {
    length = lengthOf('content-length');
    if (length === undefined && headers.get('transfer-encoding') === undefined)
      fail('S3_MISSING_CONTENT_LENGTH', 'the request has a body but no Content-Length');
  }
  if (length !== undefined && length > maxBytes)
    fail(
      'S3_ENTITY_TOO_LARGE',
      `the body of ${length} bytes is over the ${maxBytes}-byte limit: use a multipart upload, or smaller parts`,
    );
  const trailer = headers.get('x-amz-trailer');
  const algorithm = CHECKSUM_ALGORITHMS.find(
    (a) => headers.has(`x-amz-checksum-${a}`) || trailer === `x-amz-checksum-${a}`,
  );
  const checks: BodyChecks = {
    ...(algorithm === undefined
      ? {}
      : {
          checksum: {
            algorithm,
            expected: () =>
              headers.get(`x-amz-checksum-${algorithm}`) ??
              trailers.get(`x-amz-checksum-${algorithm}`),
          },
        }),
    sha256: hash === UNSIGNED_PAYLOAD || hash.startsWith('STREAMING-') ? undefined : hash,
    md5Base64: headers.get('content-md5'),
    length,
    maxBytes,
  };
  if (checks.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(checks.sha256))
    fail(
      'S3_INVALID_ARGUMENT',
      'x-amz-content-sha256 must be a lower-case hex SHA-256, UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER',
    );
  return meteredBody(source, checks);
}

/** A small body (XML), read whole under the XML size limit. */
export async function smallBody(ctx: S3Context): Promise<string> {
  const body = requestBody(ctx, ctx.limits.maxXmlBytes);
  const parts: Uint8Array[] = [];
  for await (const p of body.pieces) parts.push(p);
  return Buffer.concat(parts).toString('utf8');
}

/** Content-Type and x-amz-meta-* of a request, bounded like S3's 2 KiB of user metadata. */
export function requestAttributes(headers: ReadonlyMap<string, string>): {
  contentType: string;
  userMeta: Record<string, string>;
} {
  const userMeta: Record<string, string> = {};
  let bytes = 0;
  for (const [name, value] of headers)
    if (name.startsWith('x-amz-meta-')) {
      userMeta[name.slice('x-amz-meta-'.length)] = value;
      bytes += name.length - 11 + Buffer.byteLength(value);
    }
  if (bytes > MAX_USER_META_BYTES)
    fail(
      'S3_INVALID_ARGUMENT',
      `user metadata (x-amz-meta-*) is ${bytes} bytes, over ${MAX_USER_META_BYTES}`,
    );
  return { contentType: headers.get('content-type') ?? 'application/octet-stream', userMeta };
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

export function isoDate(ms: number): string {
  return new Date(ms).toISOString();
}

export function sendXml(ctx: S3Context, status: number, root: string, body: XmlNode): void {
  const text = xmlDocument(root, body);
  ctx.res.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(text),
  });
  ctx.res.end(text);
}

export function sendEmpty(
  ctx: S3Context,
  status: number,
  headers: Record<string, string> = {},
): void {
  ctx.res.writeHead(status, { ...headers, 'content-length': '0' });
  ctx.res.end();
}

/**
 * A `Range: bytes=…` header resolved against `size` (one range; several are not supported
 * and, as RFC 9110 allows, the header is then ignored, as is one that does not parse).
 * @throws VdcError S3_INVALID_RANGE when the range starts past the end
 */
export function parseRange(
  value: string | undefined,
  size: number,
): { start: number; end: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes=([0-9]{0,16})-([0-9]{0,16})$/.exec(value.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) fail('S3_INVALID_RANGE', `the range ${value} is empty`);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size)
    fail('S3_INVALID_RANGE', `the range ${value} is not satisfiable: the object is ${size} bytes`);
  return { start, end };
}
