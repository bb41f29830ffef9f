import { createCipheriv, createDecipheriv } from 'node:crypto';
import { promisify } from 'node:util';
import { constants, zstdCompress, zstdDecompress } from 'node:zlib';
import { fail } from '../core/assert.ts';
import { FLAG_ZSTD } from './shard-format.ts';
import { chunkNonce } from './zstor-keys.ts';

/*
 * One chunk, sealed: zstd-compressed when that makes it smaller, then AES-256-GCM under the
 * object version's key with nonce chunkNonce(chunk). The associated data binds the
 * ciphertext to its object, version, chunk index and compression flag, so a shard set
 * moved to another place, or a flag flipped, fails authentication.
 */

const compress = promisify(zstdCompress);
const decompress = promisify(zstdDecompress);
const TAG_BYTES = 16;
export const SEAL_OVERHEAD = TAG_BYTES;

export interface ChunkPlace {
  readonly objectId: Buffer;
  readonly version: number;
  readonly chunk: number;
}

export interface SealedChunk {
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
  readonly flags: number;
  /** ciphertext and tag: the bytes that are erasure-coded */
  readonly length: number;
  /** The caller's buffer the ciphertext was written to (at its start), when one was given. */
  readonly area?: Buffer | undefined;
}

/** Bytes per data shard for `sealedLength` sealed bytes in `data` shards (the last zero-padded). */
export function sealedShardLength(sealedLength: number, data: number): number {
  return Math.max(1, Math.ceil(sealedLength / data));
}

function associatedData(place: ChunkPlace, flags: number): Buffer {
  const aad = Buffer.alloc(19 + 1 + 16 + 16);
  aad.write('vdc/zstor/chunk/v1\0', 0, 'latin1');
  aad[19] = flags;
  place.objectId.copy(aad, 20);
  aad.writeBigUInt64BE(BigInt(place.version), 36);
  aad.writeBigUInt64BE(BigInt(place.chunk), 44);
  return aad;
}

/** A compressed chunk (flags FLAG_ZSTD) or the plaintext itself (flags 0), before encryption. */
export interface PackedChunk {
  readonly body: Uint8Array;
  readonly flags: number;
}

const PROBE_BYTES = 64 * 1024;

/**
 * Compresses one chunk when that makes it smaller; `level` 0 turns compression off. Large
 * chunks are probed first: when neither their first nor their middle 64 KiB shrink by 3%,
 * the chunk is taken as incompressible (encrypted or already compressed data) and stored as
 * it is, which saves most of zstd's time on such data. The probe only decides speed, never
 * correctness: the flag records what was done. Runs on libuv's thread pool, so the caller
 * can seal one chunk while the next compresses. `assumeIncompressible` skips even the
 * probes for a large chunk (the writer sets it after a run of incompressible chunks).
 */
export async function packChunk(
  plain: Uint8Array,
  level: number,
  assumeIncompressible = false,
): Promise<PackedChunk> {
  if (level === 0 || plain.length === 0) return { body: plain, flags: 0 };
  if (assumeIncompressible && plain.length >= 8 * PROBE_BYTES) return { body: plain, flags: 0 };
  // Telling zstd the input size up front lets it size its context to the input: 3x faster
  // for the 64 KiB probes, where the context's fresh memory is most of the cost.
  const options = (bytes: number) => ({
    params: { [constants.ZSTD_c_compressionLevel]: level },
    pledgedSrcSize: bytes,
  });
  if (plain.length >= 8 * PROBE_BYTES) {
    const mid = Math.floor(plain.length / 2);
    const probes = [plain.subarray(0, PROBE_BYTES), plain.subarray(mid, mid + PROBE_BYTES)];
    const packed = await Promise.all(probes.map((p) => compress(p, options(PROBE_BYTES))));
    if (packed.every((p) => p.length > PROBE_BYTES * 0.97)) return { body: plain, flags: 0 };
  }
  const packed = await compress(plain, options(plain.length));
  return packed.length < plain.length
    ? { body: packed, flags: FLAG_ZSTD }
    : { body: plain, flags: 0 };
}

/**
 * Bytes per cipher update. node:crypto allocates each update's output twice (room for a
 * block more, then the exact size, copied over): in 64 KiB steps that memory stays in the
 * cache and in malloc's free lists. One 4 MiB update cost 3-4 times as much CPU here.
 */
const SEAL_STEP = 64 * 1024;

/**
 * Encrypts one packed chunk under the object version's key. With `area` (at least
 * sealedShardLength(body + tag, data) × data bytes, reused by the caller), the ciphertext is
 * written at its start, in SEAL_STEP steps, so that the data shards can be views of it
 * (sealedDataShards) and no chunk-sized buffer is allocated (docs/zstor.md, "Speed").
 */
export function sealChunk(
  key: Buffer,
  place: ChunkPlace,
  packed: PackedChunk,
  area?: Buffer,
): SealedChunk {
  const { body, flags } = packed;
  const cipher = createCipheriv('aes-256-gcm', key, chunkNonce(place.chunk));
  cipher.setAAD(associatedData(place, flags));
  if (area === undefined || area.length < body.length + TAG_BYTES) {
    const ct = cipher.update(body);
    const fin = cipher.final(); // empty for GCM, kept for form
    const ciphertext = fin.length === 0 ? ct : Buffer.concat([ct, fin]);
    return { ciphertext, tag: cipher.getAuthTag(), flags, length: ciphertext.length + TAG_BYTES };
  }
  const ciphertext = area.subarray(0, body.length);
  for (let at = 0; at < body.length; at += SEAL_STEP) {
    const step = body.subarray(at, at + SEAL_STEP);
    const out = cipher.update(step);
    // GCM is a stream mode: every update returns exactly its input's length
    if (out.length !== step.length) throw new Error('AES-GCM returned a short update');
    out.copy(ciphertext, at);
  }
  if (cipher.final().length !== 0) throw new Error('AES-GCM returned bytes at final');
  return { ciphertext, tag: cipher.getAuthTag(), flags, length: body.length + TAG_BYTES, area };
}

/**
 * The `data` equal shards of ciphertext || tag, zero-padded. Sealed into an area large
 * enough, the tag and padding are written there and every shard is a view of it (no copy,
 * no allocation). Otherwise views into the ciphertext where a shard lies wholly inside it,
 * so only the last shard or two are copied.
 */
export function sealedDataShards(sealed: SealedChunk, data: number): Uint8Array[] {
  const len = sealedShardLength(sealed.length, data);
  const { ciphertext, tag, area } = sealed;
  if (area !== undefined && area.length >= len * data) {
    tag.copy(area, ciphertext.length);
    area.fill(0, sealed.length, len * data);
    return Array.from({ length: data }, (_, i) => area.subarray(i * len, (i + 1) * len));
  }
  const shards: Uint8Array[] = [];
  for (let i = 0; i < data; i++) {
    const from = i * len;
    if (from + len <= ciphertext.length) {
      shards.push(ciphertext.subarray(from, from + len));
      continue;
    }
    const shard = Buffer.alloc(len);
    if (from < ciphertext.length) ciphertext.copy(shard, 0, from);
    const tagAt = ciphertext.length - from; // where the tag starts in this shard (may be < 0)
    for (let t = 0; t < TAG_BYTES; t++) {
      const at = tagAt + t;
      if (at >= 0 && at < len) shard[at] = tag[t]!;
    }
    shards.push(shard);
  }
  return shards;
}

function piecesLength(pieces: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of pieces) n += p.length;
  return n;
}

function byteAt(pieces: readonly Uint8Array[], at: number): number {
  let offset = at;
  for (const p of pieces) {
    if (offset < p.length) return p[offset]!;
    offset -= p.length;
  }
  return 0; // beyond the end: checked against the shard length before
}

/** Reused by contiguous(): decryption reads it synchronously, so one buffer serves every call. */
let scratch = Buffer.alloc(0);

/**
 * The first `length` bytes of a shard given as pieces, as one buffer: a view when they lie
 * in one piece, else copied into the reused scratch buffer (a copy of warm memory, unlike
 * a fresh join, and decryption then makes few large outputs instead of one per piece).
 * Valid only until the next call.
 */
function contiguous(pieces: readonly Uint8Array[], length: number): Uint8Array {
  const first = pieces[0];
  if (first !== undefined && first.length >= length) return first.subarray(0, length);
  if (scratch.length < length) scratch = Buffer.allocUnsafe(length);
  let at = 0;
  for (const p of pieces) {
    if (at >= length) break;
    const take = Math.min(p.length, length - at);
    scratch.set(take === p.length ? p : p.subarray(0, take), at);
    at += take;
  }
  return scratch.subarray(0, length);
}

/**
 * Decrypts and decompresses one chunk from its data shards, each given as the pieces it
 * arrived in, and checks its length. Returns the plaintext in pieces (of SEAL_STEP bytes
 * when not compressed), so the shards are never joined into one buffer.
 * @throws VdcError ZSTOR_CHUNK_UNDECRYPTABLE when authentication fails (wrong key, or the
 *   shards were altered in a way their hashes did not catch, or put in the wrong place)
 * @throws VdcError ZSTOR_OBJECT_CORRUPT when the plaintext has the wrong length
 */
export async function openChunk(
  key: Buffer,
  place: ChunkPlace,
  dataShards: readonly (readonly Uint8Array[])[],
  sealedLength: number,
  flags: number,
  plainLength: number,
): Promise<Buffer[]> {
  const where = `chunk ${place.chunk} of object ${place.objectId.toString('hex')} version ${place.version}`;
  const len = dataShards[0] === undefined ? 0 : piecesLength(dataShards[0]);
  if (sealedLength < TAG_BYTES || sealedLength > len * dataShards.length)
    fail(
      'ZSTOR_CHUNK_UNDECRYPTABLE',
      `${where} claims ${sealedLength} sealed bytes in ${dataShards.length} shards of ${len}`,
    );
  const ctLength = sealedLength - TAG_BYTES;
  const tag = Buffer.alloc(TAG_BYTES);
  for (let t = 0; t < TAG_BYTES; t++)
    tag[t] = byteAt(dataShards[Math.floor((ctLength + t) / len)]!, (ctLength + t) % len);
  const pieces: Buffer[] = [];
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, chunkNonce(place.chunk));
    decipher.setAAD(associatedData(place, flags));
    decipher.setAuthTag(tag);
    for (let i = 0; i * len < ctLength; i++) {
      const shard = contiguous(dataShards[i]!, Math.min(len, ctLength - i * len));
      for (let at = 0; at < shard.length; at += SEAL_STEP)
        pieces.push(decipher.update(shard.subarray(at, at + SEAL_STEP)));
    }
    const fin = decipher.final();
    if (fin.length > 0) pieces.push(fin);
  } catch (cause) {
    fail(
      'ZSTOR_CHUNK_UNDECRYPTABLE',
      `${where} does not authenticate: the data key is not the one it was written with, or its shards were tampered with`,
      cause,
    );
  }
  const plain =
    (flags & FLAG_ZSTD) !== 0
      ? [
          await decompress(Buffer.concat(pieces), {
            maxOutputLength: Math.max(1, plainLength),
          }).catch((cause: unknown) =>
            fail(
              'ZSTOR_OBJECT_CORRUPT',
              `${where} does not decompress to ${plainLength} bytes`,
              cause,
            ),
          ),
        ]
      : pieces;
  const total = plain.reduce((n, p) => n + p.length, 0);
  if (total !== plainLength)
    fail('ZSTOR_OBJECT_CORRUPT', `${where} is ${total} bytes, the metadata says ${plainLength}`);
  return plain;
}
