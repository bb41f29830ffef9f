import { createHash } from 'node:crypto';
import { fail } from '../core/assert.ts';

/*
 * One shard as stored in a backend: a 77-byte header then the payload (docs/zstor.md,
 * "Shard format"). All integers big-endian.
 *
 *   0   4  magic "VZSH"
 *   4   1  format version, 1
 *   5   1  flags: bit 0 = the sealed chunk is zstd-compressed; others zero
 *   6  16  object id
 *  22   8  version
 *  30   8  chunk index
 *  38   1  shard index (0..data-1 data, then parity)
 *  39   1  data shards
 *  40   1  parity shards
 *  41   4  sealed chunk length (payload x data minus the zero padding)
 *  45  32  SHA-256 of bytes 0..44 and the payload
 *  77      payload
 *
 * The header lets a shard be checked on its own (hash, and that it is the shard it is
 * supposed to be) by anyone holding it, including repair, which never decrypts.
 */

export const SHARD_MAGIC = Buffer.from('VZSH', 'ascii');
export const SHARD_FORMAT = 1;
export const SHARD_HEADER_BYTES = 77;
const HASHED_HEADER_BYTES = 45;
export const FLAG_ZSTD = 1;

export interface ShardHeader {
  readonly flags: number;
  readonly objectId: Buffer;
  readonly version: number;
  readonly chunk: number;
  readonly index: number;
  readonly data: number;
  readonly parity: number;
  readonly sealedLength: number;
}

export interface EncodedShard {
  /** Header bytes; the stored value is header then payload. */
  readonly header: Buffer;
  readonly payload: Uint8Array;
  /** SHA-256 as in the header, also recorded in the metadata. */
  readonly hash: Buffer;
}

/** The header for `payload`, with its hash. */
export function encodeShard(h: ShardHeader, payload: Uint8Array): EncodedShard {
  const header = Buffer.alloc(SHARD_HEADER_BYTES);
  SHARD_MAGIC.copy(header, 0);
  header[4] = SHARD_FORMAT;
  header[5] = h.flags;
  h.objectId.copy(header, 6);
  header.writeBigUInt64BE(BigInt(h.version), 22);
  header.writeBigUInt64BE(BigInt(h.chunk), 30);
  header[38] = h.index;
  header[39] = h.data;
  header[40] = h.parity;
  header.writeUInt32BE(h.sealedLength, 41);
  const hash = createHash('sha256')
    .update(header.subarray(0, HASHED_HEADER_BYTES))
    .update(payload)
    .digest();
  hash.copy(header, HASHED_HEADER_BYTES);
  return { header, payload, hash };
}

export interface DecodedShard extends ShardHeader {
  readonly payload: Uint8Array;
  readonly hash: Buffer;
}

/** A shard decoded from pieces: its payload is views of those pieces, never joined. */
export interface DecodedShardParts extends ShardHeader {
  readonly payloadParts: readonly Uint8Array[];
  readonly hash: Buffer;
}

/** Checks the fixed header fields of `b` (at least SHARD_HEADER_BYTES long). */
function checkMagic(b: Buffer, total: number, where: string): void {
  if (total < SHARD_HEADER_BYTES || !b.subarray(0, 4).equals(SHARD_MAGIC))
    fail(
      'ZSTOR_SHARD_MALFORMED',
      `${where} is not a zstor shard (${total} bytes, no "VZSH" header)`,
    );
  if (b[4] !== SHARD_FORMAT)
    fail(
      'ZSTOR_SHARD_MALFORMED',
      `${where} has shard format ${b[4]}, this version reads ${SHARD_FORMAT}`,
    );
}

function checkHash(header: Buffer, payload: readonly Uint8Array[], where: string): Buffer {
  const hash = header.subarray(HASHED_HEADER_BYTES, SHARD_HEADER_BYTES);
  const h = createHash('sha256').update(header.subarray(0, HASHED_HEADER_BYTES));
  for (const p of payload) h.update(p);
  if (!h.digest().equals(hash))
    fail(
      'ZSTOR_SHARD_CORRUPT',
      `${where} does not match its SHA-256: its bytes changed on the backend`,
    );
  return Buffer.from(hash);
}

function readHeader(b: Buffer): ShardHeader {
  return {
    flags: b[5]!,
    objectId: Buffer.from(b.subarray(6, 22)),
    version: Number(b.readBigUInt64BE(22)),
    chunk: Number(b.readBigUInt64BE(30)),
    index: b[38]!,
    data: b[39]!,
    parity: b[40]!,
    sealedLength: b.readUInt32BE(41),
  };
}

/**
 * Parses a stored shard and checks its hash.
 * @throws VdcError ZSTOR_SHARD_MALFORMED when it is not a shard of this format
 * @throws VdcError ZSTOR_SHARD_CORRUPT when the bytes do not match the hash in the header
 */
export function decodeShard(value: Uint8Array, where: string): DecodedShard {
  const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  checkMagic(b, b.length, where);
  const payload = b.subarray(SHARD_HEADER_BYTES);
  const hash = checkHash(b, [payload], where);
  return { ...readHeader(b), payload, hash };
}

/**
 * decodeShard for a value given as pieces (ShardBackend.getParts): only the header is
 * joined when it straddles pieces; the payload stays views of them.
 * @throws VdcError ZSTOR_SHARD_MALFORMED, ZSTOR_SHARD_CORRUPT as decodeShard
 */
export function decodeShardParts(parts: readonly Uint8Array[], where: string): DecodedShardParts {
  let total = 0;
  for (const p of parts) total += p.length;
  const first = parts[0];
  let header: Buffer;
  if (first !== undefined && first.length >= SHARD_HEADER_BYTES)
    header = Buffer.from(first.buffer, first.byteOffset, SHARD_HEADER_BYTES);
  else {
    // the header straddles pieces: join just enough of them
    const head: Uint8Array[] = [];
    let got = 0;
    for (const p of parts) {
      if (got >= SHARD_HEADER_BYTES) break;
      head.push(p);
      got += p.length;
    }
    header = Buffer.concat(head).subarray(0, SHARD_HEADER_BYTES);
  }
  checkMagic(header, total, where);
  const payloadParts: Uint8Array[] = [];
  let skip = SHARD_HEADER_BYTES;
  for (const p of parts) {
    if (skip >= p.length) {
      skip -= p.length;
      continue;
    }
    payloadParts.push(skip > 0 ? p.subarray(skip) : p);
    skip = 0;
  }
  const hash = checkHash(header, payloadParts, where);
  return { ...readHeader(header), payloadParts, hash };
}
