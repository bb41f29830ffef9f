import { assertInteger, fail } from '../core/assert.ts';
import { asVdcError } from '../core/errors.ts';
import { openChunk } from './chunk-seal.ts';
import {
  type ChunkOrigin,
  type ChunkRecord,
  chunkOrigins,
  type ObjectManifest,
} from './object-manifest.ts';
import { ReedSolomon } from './reed-solomon.ts';
import type { ShardBackend } from './shard-backend.ts';
import { decodeShardParts } from './shard-format.ts';
import { objectKey, shardKey, versionKey } from './zstor-keys.ts';

/*
 * The read half: for each chunk fetch the data shards (the code is systematic, so when
 * they are all good no decoding is needed), fall back to parity shards for any missing or
 * bad one, rebuild, decrypt, decompress. A shard counts as bad when its backend fails, it
 * is absent, its own SHA-256 fails, its hash differs from the manifest's or its header
 * names another place. The next `prefetch` chunks are fetched while the current one is
 * opened, so memory holds prefetch + 1 chunks' data shards.
 * Integrity of the contents rests on AES-GCM per chunk (key bound to the object and
 * version that sealed the chunk, nonce to its index there: for a spliced, format-2
 * manifest those are its part's, see object-manifest.ts) and on the authenticated manifest fixing the chunk count and
 * sizes; the whole-object SHA-256 in the manifest is for users (and S3 checksums), not
 * re-computed here, which saves a pass over the data.
 */

export interface ReadSource {
  /** Backends by id, as recorded in manifests. */
  readonly backends: ReadonlyMap<string, ShardBackend>;
  readonly dataKey: Buffer;
  readonly nameKey: Buffer;
  /** Told about every chunk read with bad or missing shards (to queue it for repair). */
  readonly onDegraded?: ((chunk: number, problems: readonly string[]) => void) | undefined;
  /** Chunks fetched ahead of the one being opened (1..16); default DEFAULT_PREFETCH. */
  readonly prefetch?: number | undefined;
}

/** Chunks fetched ahead when the caller does not say. */
export const DEFAULT_PREFETCH = 3;

interface Fetched {
  /** The data shards, each as the pieces it arrived in. */
  readonly shards: readonly (readonly Uint8Array[])[];
  readonly problems: string[];
}

/** Bytes [offset, offset + length) of an object; length past the end stops at the end. */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/**
 * The chunks a range covers: [first, last) and where the range starts in chunk `first`.
 * Chunks are authenticated whole (one GCM tag each), so a range costs the chunks it
 * touches, never the ones before it.
 */
export function chunksOfRange(
  manifest: ObjectManifest,
  range: ByteRange,
): { first: number; end: number; skip: number } {
  let at = 0;
  let first = manifest.chunks.length;
  let skip = 0;
  let end = manifest.chunks.length;
  const stop = range.offset + range.length;
  for (const [i, c] of manifest.chunks.entries()) {
    if (first === manifest.chunks.length && range.offset < at + c.size) {
      first = i;
      skip = range.offset - at;
    }
    at += c.size;
    if (at >= stop) {
      end = i + 1;
      break;
    }
  }
  return { first, end: Math.max(first, end), skip };
}

/**
 * The plaintext of one object version (or of `range` of it), chunk by chunk; with a range
 * only the chunks it covers are fetched.
 * @throws VdcError ZSTOR_SHARDS_MISSING when a chunk has fewer than `data` good shards (names them)
 * @throws VdcError ZSTOR_CHUNK_UNDECRYPTABLE / ZSTOR_OBJECT_CORRUPT when contents do not check out
 * @throws VdcError INPUT_INVALID on a negative or non-integer range
 */
export async function* readObject(
  source: ReadSource,
  manifest: ObjectManifest,
  range?: ByteRange,
): AsyncGenerator<Buffer> {
  if (range !== undefined) {
    assertInteger(range.offset, 'offset', 0, Number.MAX_SAFE_INTEGER);
    assertInteger(range.length, 'length', 0, Number.MAX_SAFE_INTEGER);
  }
  const span =
    range === undefined
      ? { first: 0, end: manifest.chunks.length, skip: 0 }
      : chunksOfRange(manifest, range);
  let remaining = range === undefined ? Number.POSITIVE_INFINITY : range.length;
  let skip = span.skip;
  // Each chunk is opened with the key and nonce of the write that sealed it (format 2:
  // another write's, see object-manifest.ts); keys and codes are made once per write.
  const origins = chunkOrigins(manifest);
  const keys = new Map<string, Buffer>();
  const keyOf = (o: ChunkOrigin) => {
    const id = `${o.objectId.toString('hex')}/${o.version}`;
    let key = keys.get(id);
    if (key === undefined) {
      key = versionKey(objectKey(source.dataKey, o.objectId), o.version, o.versionSalt);
      keys.set(id, key);
    }
    return key;
  };
  const codes = new Map<string, ReedSolomon>();
  const codeOf = (o: ChunkOrigin) => {
    const id = `${o.data}+${o.parity}`;
    let rs = codes.get(id);
    if (rs === undefined) {
      rs = new ReedSolomon(o.data, o.parity);
      codes.set(id, rs);
    }
    return rs;
  };
  const fetch = (i: number) => {
    const p = fetchChunk(source, manifest, origins[i]!, i, codeOf(origins[i]!));
    p.catch(() => {}); // awaited below; this only stops an early "unhandled rejection"
    return p;
  };
  const ahead = source.prefetch ?? DEFAULT_PREFETCH;
  assertInteger(ahead, 'prefetch', 1, 16, 'ZSTOR_CONFIG_INVALID');
  const count = span.end;
  const queue: Promise<Fetched>[] = [];
  let requested = span.first;
  for (let i = span.first; i < count && remaining > 0; i++) {
    while (requested < count && requested <= i + ahead) queue.push(fetch(requested++));
    const fetched = await queue.shift()!;
    const record = manifest.chunks[i]!;
    const origin = origins[i]!;
    if (fetched.problems.length > 0) source.onDegraded?.(i, fetched.problems);
    const pieces = await openChunk(
      keyOf(origin),
      { objectId: origin.objectId, version: origin.version, chunk: origin.chunk },
      fetched.shards,
      record.sealed,
      record.flags,
      record.size,
    );
    if (range === undefined) {
      yield* pieces;
      continue;
    }
    for (const piece of pieces) {
      if (skip >= piece.length) {
        skip -= piece.length;
        continue;
      }
      const part = piece.subarray(skip, skip + Math.min(remaining, piece.length - skip));
      skip = 0;
      remaining -= part.length;
      if (part.length > 0) yield part;
      if (remaining === 0) break;
    }
  }
}

/** Chunk `chunk` (its position in the object) of `manifest`, sealed at `origin`. */
async function fetchChunk(
  source: ReadSource,
  manifest: ObjectManifest,
  origin: ChunkOrigin,
  chunk: number,
  rs: ReedSolomon,
): Promise<Fetched> {
  const record = manifest.chunks[chunk]!;
  const shards: (readonly Uint8Array[] | undefined)[] = new Array(rs.total).fill(undefined);
  const problems: string[] = [];
  const load = (indices: number[]) =>
    Promise.all(
      indices.map(async (i) => {
        const result = await fetchShard(source, origin, i, record);
        if (typeof result === 'string') problems.push(result);
        else shards[i] = result;
      }),
    );
  await load(Array.from({ length: rs.data }, (_, i) => i));
  let good = shards.filter((s) => s !== undefined).length;
  // all data shards good (only they were fetched): no decoding, pieces as they arrived
  if (good === rs.data) return { shards: shards.slice(0, rs.data) as Uint8Array[][], problems };
  let nextParity = rs.data;
  while (good < rs.data && nextParity < rs.total) {
    const want = Math.min(rs.data - good, rs.total - nextParity);
    await load(Array.from({ length: want }, (_, k) => nextParity + k));
    nextParity += want;
    good = shards.filter((s) => s !== undefined).length;
  }
  if (good < rs.data)
    fail(
      'ZSTOR_SHARDS_MISSING',
      `chunk ${chunk} of ${JSON.stringify(manifest.name)} version ${manifest.version} has ${good} good shards of ${rs.total}, ` +
        `${rs.data} needed; ${problems.sort().join('; ')}. Bring the backends back (then run repair) or the data is lost`,
    );
  // Degraded: Reed-Solomon needs each shard in one buffer.
  const joined = shards.map((s) =>
    s === undefined ? undefined : s.length === 1 ? s[0]! : Buffer.concat(s),
  );
  rs.reconstruct(joined, true);
  return { shards: joined.slice(0, rs.data).map((s) => [s!]), problems };
}

/** The shard's payload (as the pieces it arrived in), or a sentence saying what is wrong with it. */
async function fetchShard(
  source: ReadSource,
  origin: ChunkOrigin,
  index: number,
  record: ChunkRecord,
): Promise<readonly Uint8Array[] | string> {
  const expected = record.shards[index]!;
  const label = `shard ${index}`;
  if (expected.backend === null) return `${label} was never stored`;
  const backend = source.backends.get(expected.backend);
  if (backend === undefined)
    return `${label} is on backend ${expected.backend}, which is not configured`;
  const where = `${label} on ${backend.id} (node ${backend.node})`;
  try {
    const key = shardKey(source.nameKey, origin.objectId, origin.version, origin.chunk, index);
    const value =
      backend.getParts !== undefined
        ? await backend.getParts(key)
        : await backend.get(key).then((v) => (v === undefined ? undefined : [v]));
    if (value === undefined) return `${where} is missing`;
    const shard = decodeShardParts(value, where);
    if (shard.hash.toString('hex') !== expected.hash)
      return `${where} is not the shard the metadata recorded (stale or replaced)`;
    if (
      !shard.objectId.equals(origin.objectId) ||
      shard.version !== origin.version ||
      shard.chunk !== origin.chunk ||
      shard.index !== index
    )
      return `${where} belongs to another place`;
    return shard.payloadParts;
  } catch (err) {
    const e = asVdcError(err);
    return `${where}: ${e.code} ${e.message}`;
  }
}
