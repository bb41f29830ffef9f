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

/** Encrypts one packed chunk under the object version's key. */
export function sealChunk(key: Buffer, place: ChunkPlace, packed: PackedChunk): SealedChunk {
  const { body, flags } = packed;
  const cipher = createCipheriv('aes-256-gcm', key, chunkNonce(place.chunk));
  cipher.setAAD(associatedData(place, flags));
  const ct = cipher.update(body);
  const fin = cipher.final(); // empty for GCM, kept for form
  const ciphertext = fin.length === 0 ? ct : Buffer.concat([ct, fin]);
  return { ciphertext, tag: cipher.getAuthTag(), flags, length: ciphertext.length + TAG_BYTES };
}

/**
 * The `data` equal shards of ciphertext || tag, zero-padded: views into the ciphertext where
 * a shard lies wholly inside it, so only the last shard or two are copied (a 4 MiB copy and
 * allocation per chunk saved, which on a VM with costly page faults is noticeable).
 */
export function sealedDataShards(sealed: SealedChunk, data: number): Uint8Array[] {
  const len = Math.max(1, Math.ceil(sealed.length / data));
  const { ciphertext, tag } = sealed;
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

/**
 * Decrypts and decompresses one chunk from its data shards and checks its length. Returns
 * the plaintext in pieces (one per data shard when not compressed), so the shards are never
 * joined into one buffer.
 * @throws VdcError ZSTOR_CHUNK_UNDECRYPTABLE when authentication fails (wrong key, or the
 *   shards were altered in a way their hashes did not catch, or put in the wrong place)
 * @throws VdcError ZSTOR_OBJECT_CORRUPT when the plaintext has the wrong length
 */
export async function openChunk(
  key: Buffer,
  place: ChunkPlace,
  dataShards: readonly Uint8Array[],
  sealedLength: number,
  flags: number,
  plainLength: number,
): Promise<Buffer[]> {
  const where = `chunk ${place.chunk} of object ${place.objectId.toString('hex')} version ${place.version}`;
  const len = dataShards[0]?.length ?? 0;
  if (sealedLength < TAG_BYTES || sealedLength > len * dataShards.length)
    fail(
      'ZSTOR_CHUNK_UNDECRYPTABLE',
      `${where} claims ${sealedLength} sealed bytes in ${dataShards.length} shards of ${len}`,
    );
  const ctLength = sealedLength - TAG_BYTES;
  const tag = Buffer.alloc(TAG_BYTES);
  for (let t = 0; t < TAG_BYTES; t++)
    tag[t] = dataShards[Math.floor((ctLength + t) / len)]![(ctLength + t) % len]!;
  const pieces: Buffer[] = [];
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, chunkNonce(place.chunk));
    decipher.setAAD(associatedData(place, flags));
    decipher.setAuthTag(tag);
    for (let i = 0; i * len < ctLength; i++)
      pieces.push(decipher.update(dataShards[i]!.subarray(0, Math.min(len, ctLength - i * len))));
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
