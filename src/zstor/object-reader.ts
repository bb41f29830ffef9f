import { fail } from '../core/assert.ts';
import { asVdcError } from '../core/errors.ts';
import { openChunk } from './chunk-seal.ts';
import type { ChunkRecord, ObjectManifest } from './object-manifest.ts';
import { ReedSolomon } from './reed-solomon.ts';
import type { ShardBackend } from './shard-backend.ts';
import { decodeShard } from './shard-format.ts';
import { objectKey, shardKey, versionKey } from './zstor-keys.ts';

/*
 * The read half: for each chunk fetch the data shards (the code is systematic, so when
 * they are all good no decoding is needed), fall back to parity shards for any missing or
 * bad one, rebuild, decrypt, decompress. A shard counts as bad when its backend fails, it
 * is absent, its own SHA-256 fails, its hash differs from the manifest's or its header
 * names another place. The next chunk is fetched while the current one is opened.
 * Integrity of the contents rests on AES-GCM per chunk (key bound to object and version,
 * nonce to the chunk index) and on the authenticated manifest fixing the chunk count and
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
}

interface Fetched {
  readonly shards: (Uint8Array | undefined)[];
  readonly problems: string[];
}

/**
 * The plaintext of one object version, chunk by chunk.
 * @throws VdcError ZSTOR_SHARDS_MISSING when a chunk has fewer than `data` good shards (names them)
 * @throws VdcError ZSTOR_CHUNK_UNDECRYPTABLE / ZSTOR_OBJECT_CORRUPT when contents do not check out
 */
export async function* readObject(
  source: ReadSource,
  manifest: ObjectManifest,
): AsyncGenerator<Buffer> {
  const rs = new ReedSolomon(manifest.data, manifest.parity);
  const objectId = Buffer.from(manifest.objectId, 'hex');
  const key = versionKey(
    objectKey(source.dataKey, objectId),
    manifest.version,
    Buffer.from(manifest.versionSalt, 'hex'),
  );
  const fetch = (i: number) => {
    const p = fetchChunk(source, manifest, objectId, i, rs);
    p.catch(() => {}); // awaited below; this only stops an early "unhandled rejection"
    return p;
  };
  let next = manifest.chunks.length > 0 ? fetch(0) : undefined;
  for (let i = 0; i < manifest.chunks.length; i++) {
    const fetched = await next!;
    next = i + 1 < manifest.chunks.length ? fetch(i + 1) : undefined;
    const record = manifest.chunks[i]!;
    if (fetched.problems.length > 0) source.onDegraded?.(i, fetched.problems);
    const pieces = await openChunk(
      key,
      { objectId, version: manifest.version, chunk: i },
      fetched.shards.slice(0, rs.data) as Uint8Array[],
      record.sealed,
      record.flags,
      record.size,
    );
    yield* pieces;
  }
}

async function fetchChunk(
  source: ReadSource,
  manifest: ObjectManifest,
  objectId: Buffer,
  chunk: number,
  rs: ReedSolomon,
): Promise<Fetched> {
  const record = manifest.chunks[chunk]!;
  const shards: (Uint8Array | undefined)[] = new Array(rs.total).fill(undefined);
  const problems: string[] = [];
  const load = (indices: number[]) =>
    Promise.all(
      indices.map(async (i) => {
        const result = await fetchShard(source, manifest, objectId, chunk, i, record);
        if (typeof result === 'string') problems.push(result);
        else shards[i] = result;
      }),
    );
  await load(Array.from({ length: rs.data }, (_, i) => i));
  let good = shards.filter((s) => s !== undefined).length;
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
  rs.reconstruct(shards, true);
  return { shards, problems };
}

/** The shard's payload, or a sentence saying what is wrong with it. */
async function fetchShard(
  source: ReadSource,
  manifest: ObjectManifest,
  objectId: Buffer,
  chunk: number,
  index: number,
  record: ChunkRecord,
): Promise<Uint8Array | string> {
  const expected = record.shards[index]!;
  const label = `shard ${index}`;
  if (expected.backend === null) return `${label} was never stored`;
  const backend = source.backends.get(expected.backend);
  if (backend === undefined)
    return `${label} is on backend ${expected.backend}, which is not configured`;
  const where = `${label} on ${backend.id} (node ${backend.node})`;
  try {
    const value = await backend.get(
      shardKey(source.nameKey, objectId, manifest.version, chunk, index),
    );
    if (value === undefined) return `${where} is missing`;
    const shard = decodeShard(value, where);
    if (shard.hash.toString('hex') !== expected.hash)
      return `${where} is not the shard the metadata recorded (stale or replaced)`;
    if (
      !shard.objectId.equals(objectId) ||
      shard.version !== manifest.version ||
      shard.chunk !== chunk ||
      shard.index !== index
    )
      return `${where} belongs to another place`;
    return shard.payload;
  } catch (err) {
    const e = asVdcError(err);
    return `${where}: ${e.code} ${e.message}`;
  }
}
