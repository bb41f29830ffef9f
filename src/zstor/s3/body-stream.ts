import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { fail } from '../../core/assert.ts';
import { type ChunkSigning, chunkSignature, signatureMatches } from './sigv4.ts';

/*
 * A request body on its way into the store: counted, MD5-summed (the ETag S3 clients check)
 * and, when the client declared them, checked against x-amz-content-sha256 and Content-MD5.
 * A mismatch or an overrun is thrown from the iterator *before* it ends, so the store's put
 * fails and no object (nor new version) becomes visible. Nothing is buffered here: pieces
 * pass through as they arrive.
 */

export interface BodyChecks {
  /** The hex SHA-256 the signature bound, when it bound one. */
  readonly sha256?: string | undefined;
  /** Content-MD5 (base64), when sent. */
  readonly md5Base64?: string | undefined;
  /** Exactly this many bytes must arrive (Content-Length or x-amz-decoded-content-length). */
  readonly length?: number | undefined;
  /** More than this is EntityTooLarge. */
  readonly maxBytes: number;
  /** An x-amz-checksum-* the client sent (header, or trailer: read once the body ended). */
  readonly checksum?: {
    readonly algorithm: ChecksumAlgorithm;
    readonly expected: () => string | undefined;
  };
}

/** The flexible checksums verified here; CRC32C and CRC64NVME are not (no built-in). */
export type ChecksumAlgorithm = 'crc32' | 'sha1' | 'sha256';
export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['crc32', 'sha1', 'sha256'];

export interface MeteredBody {
  readonly pieces: AsyncIterable<Uint8Array>;
  /** After `pieces` ended: byte count and hex MD5. */
  result(): { size: number; md5: string };
}

export function meteredBody(source: AsyncIterable<Uint8Array>, checks: BodyChecks): MeteredBody {
  const md5 = createHash('md5');
  const sha: Hash | undefined = checks.sha256 === undefined ? undefined : createHash('sha256');
  const algo = checks.checksum?.algorithm;
  const sum: Hash | undefined = algo === 'sha1' || algo === 'sha256' ? createHash(algo) : undefined;
  let crc = 0;
  let size = 0;
  let digest: string | undefined;
  async function* pieces(): AsyncGenerator<Uint8Array> {
    for await (const piece of source) {
      size += piece.length;
      if (size > checks.maxBytes)
        fail(
          'S3_ENTITY_TOO_LARGE',
          `the body is over the ${checks.maxBytes}-byte limit: use a multipart upload, or smaller parts`,
        );
      if (checks.length !== undefined && size > checks.length)
        fail('S3_INVALID_ARGUMENT', `the body is longer than the ${checks.length} bytes declared`);
      md5.update(piece);
      sha?.update(piece);
      if (algo === 'crc32') crc = crc32(piece, crc);
      else sum?.update(piece);
      yield piece;
    }
    if (checks.length !== undefined && size !== checks.length)
      fail(
        'S3_INCOMPLETE_BODY',
        `the body ended after ${size} of the ${checks.length} bytes declared`,
      );
    const m = md5.digest();
    digest = m.toString('hex');
    if (sha !== undefined && sha.digest('hex') !== checks.sha256)
      fail(
        'S3_CONTENT_SHA256_MISMATCH',
        'the body does not hash to the x-amz-content-sha256 the request was signed with: nothing was stored',
      );
    if (checks.checksum !== undefined) {
      const expected = checks.checksum.expected();
      const crcBytes = Buffer.alloc(4);
      crcBytes.writeUInt32BE(crc >>> 0);
      const actual = (algo === 'crc32' ? crcBytes : sum!.digest()).toString('base64');
      if (expected !== undefined && expected !== actual)
        fail(
          'S3_BAD_DIGEST',
          `the body does not match its x-amz-checksum-${algo}: nothing was stored`,
        );
    }
    if (checks.md5Base64 !== undefined && m.toString('base64') !== checks.md5Base64)
      fail('S3_BAD_DIGEST', 'the body does not match its Content-MD5: nothing was stored');
  }
  return {
    pieces: pieces(),
    result: () => {
      if (digest === undefined) fail('INTERNAL', 'the body was read before it ended');
      return { size, md5: digest };
    },
  };
}

/**
 * Decodes an `aws-chunked` body (STREAMING-UNSIGNED-PAYLOAD-TRAILER: `HEXSIZE\r\n DATA \r\n`
 * … `0\r\n` trailers `\r\n`), passing data through without buffering more than one piece
 * plus a chunk-header line. Trailers (checksums) are returned after the end.
 * @throws VdcError S3_INVALID_ARGUMENT on a malformed framing
 */
export function decodeAwsChunked(
  source: AsyncIterable<Uint8Array>,
  signing?: ChunkSigning,
): {
  pieces: AsyncIterable<Uint8Array>;
  trailers: Map<string, string>;
} {
  const trailers = new Map<string, string>();
  const bad = (why: string): never =>
    fail('S3_INVALID_ARGUMENT', `the aws-chunked body is malformed: ${why}`);
  async function* pieces(): AsyncGenerator<Uint8Array> {
    let pending = Buffer.alloc(0);
    let remaining = -1; // data bytes left in the current chunk; -1 = expecting a size line
    let needCrlf = false;
    let done = false;
    let previous = signing?.seed ?? '';
    let chunkSig = '';
    let chunkHash = createHash('sha256');
    // Each chunk's signature is checked when the chunk ends; its bytes have gone on to the
    // store by then, but a mismatch throws before the body ends, so nothing becomes visible.
    const verifyChunk = () => {
      if (signing === undefined) return;
      const expected = chunkSignature(signing, previous, chunkHash.digest('hex'));
      if (!signatureMatches(chunkSig, expected))
        fail(
          'S3_SIGNATURE_MISMATCH',
          'a chunk signature of the aws-chunked body does not match: nothing was stored',
        );
      previous = expected;
      chunkHash = createHash('sha256');
    };
    for await (const piece of source) {
      pending = pending.length === 0 ? Buffer.from(piece) : Buffer.concat([pending, piece]);
      for (;;) {
        if (done) {
          // trailer lines until an empty line
          const nl = pending.indexOf('\r\n');
          if (nl < 0) {
            if (pending.length > 8192) bad('a trailer line is too long');
            break;
          }
          const line = pending.subarray(0, nl).toString('latin1');
          pending = pending.subarray(nl + 2);
          if (line === '') return;
          const colon = line.indexOf(':');
          if (colon <= 0) bad('a trailer line has no name');
          trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
          continue;
        }
        if (needCrlf) {
          if (pending.length < 2) break;
          if (pending[0] !== 13 || pending[1] !== 10) bad('a chunk does not end with CRLF');
          pending = pending.subarray(2);
          needCrlf = false;
        }
        if (remaining < 0) {
          const nl = pending.indexOf('\r\n');
          if (nl < 0) {
            if (pending.length > 256) bad('a chunk size line is too long');
            break;
          }
          const line = pending.subarray(0, nl).toString('latin1');
          const m = /^([0-9a-fA-F]{1,8})(;.*)?$/.exec(line);
          if (!m) bad(`bad chunk size line ${JSON.stringify(line.slice(0, 40))}`);
          pending = pending.subarray(nl + 2);
          remaining = Number.parseInt(m![1]!, 16);
          if (signing !== undefined) {
            const sig = /^;chunk-signature=([0-9a-f]{64})$/.exec(m![2] ?? '');
            if (!sig) bad('a chunk of a signed aws-chunked body has no chunk-signature');
            chunkSig = sig![1]!;
          }
          if (remaining === 0) {
            verifyChunk();
            done = true;
            remaining = -1;
          }
          continue;
        }
        if (pending.length === 0) break;
        const take = Math.min(remaining, pending.length);
        const data = pending.subarray(0, take);
        if (signing !== undefined) chunkHash.update(data);
        pending = pending.subarray(take);
        remaining -= take;
        if (remaining === 0) {
          verifyChunk();
          remaining = -1;
          needCrlf = true;
        }
        yield data;
      }
    }
    if (!done) bad('the body ended inside a chunk');
    if (pending.length > 0 || done) bad('the body ended inside its trailers');
  }
  return { pieces: pieces(), trailers };
}
