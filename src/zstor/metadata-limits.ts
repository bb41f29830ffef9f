import { MAX_SHARD_VALUE } from './shard-backend.ts';
import { SHARD_HEADER_BYTES } from './shard-format.ts';

/*
 * How much one metadata blob (a manifest, or the root) can hold. A blob is dispersed as a
 * single Reed-Solomon "chunk", so each of its `data` shards (header and payload) must fit
 * one zdb value: the sealed blob is at most data × (8 MiB − 77) bytes (32 MiB with 4+2).
 * And a reader refuses metadata that decompresses to more than MAX_METADATA_BYTES (a bound
 * on what a forged blob can make it allocate). A manifest grows with the object's chunks,
 * so these bound the size of one object (docs/zstor.md, "How large an object can be").
 *
 * The writer cannot know a manifest's compressed size before it has written the chunks, so
 * it refuses an object early, by its chunk count, with bounds per chunk taken above what was
 * measured (zstd cannot shrink the 32 random bytes of each shard's hash: 4+2 manifests
 * measured 231 sealed bytes per chunk, 691 bytes of JSON with 17-character backend ids).
 */

/** Metadata whose JSON is larger than this is refused by readers, so never written. */
export const MAX_METADATA_BYTES = 256 * 1024 * 1024;

/** Sealed bytes per shard record, bound (measured ~38.5: its hash's 32 random bytes and framing). */
const SEALED_PER_SHARD = 41;
/** Sealed bytes per chunk besides its shard records (size, sealed, flags; source, chunk), bound. */
const SEALED_PER_CHUNK = 36;
/** JSON bytes per shard record besides its backend id: `{"backend":"…","hash":"<64 hex>"},`. */
const JSON_PER_SHARD = 100;
/** JSON bytes per chunk besides its records: `{"flags":0,"sealed":…,"shards":[],"size":…},`. */
const JSON_PER_CHUNK = 120;
/** Room kept for the rest of a manifest: name (≤ 1024 characters), ids, format-2 sources. */
const RESERVE = 2 * 1024 * 1024;

/** The largest sealed metadata blob `data` shards can carry. */
export function maxSealedMetadata(data: number): number {
  return data * (MAX_SHARD_VALUE - SHARD_HEADER_BYTES);
}

/** Upper bound of the sealed bytes of a manifest of `chunks` chunks of `total` shards. */
export function sealedManifestBound(total: number, chunks: number): number {
  return RESERVE + chunks * (SEALED_PER_CHUNK + total * SEALED_PER_SHARD);
}

/** Upper bound of the JSON bytes of such a manifest, backend ids at most `longestId` long. */
export function jsonManifestBound(total: number, longestId: number, chunks: number): number {
  return RESERVE + chunks * (JSON_PER_CHUNK + total * (JSON_PER_SHARD + longestId));
}

/**
 * How many chunks one object may have so that its manifest surely fits, for a store coded
 * `data + parity` whose longest backend id is `longestId` characters.
 */
export function maxChunksPerObject(data: number, parity: number, longestId: number): number {
  const total = data + parity;
  const sealed = Math.floor(
    (maxSealedMetadata(data) - RESERVE) / (sealedManifestBound(total, 1) - RESERVE),
  );
  const json = Math.floor(
    (MAX_METADATA_BYTES - RESERVE) / (jsonManifestBound(total, longestId, 1) - RESERVE),
  );
  return Math.max(1, Math.min(sealed, json));
}
