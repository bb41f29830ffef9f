import { createHash } from 'node:crypto';
import { assertInteger, fail } from '../core/assert.ts';
import { asVdcError } from '../core/errors.ts';
import {
  type PackedChunk,
  packChunk,
  SEAL_OVERHEAD,
  sealChunk,
  sealedDataShards,
  sealedShardLength,
} from './chunk-seal.ts';
import { rechunk } from './chunker.ts';
import { maxChunksPerObject } from './metadata-limits.ts';
import type { ChunkRecord, ObjectManifest, ShardRecord } from './object-manifest.ts';
import { MANIFEST_FORMAT } from './object-manifest.ts';
import { placeChunk } from './placement.ts';
import type { ReedSolomon } from './reed-solomon.ts';
import type { ShardBackend } from './shard-backend.ts';
import { encodeShard } from './shard-format.ts';
import { objectKey, shardKey, versionKey } from './zstor-keys.ts';

/*
 * The write half of the pipeline: chunk → seal (compress, encrypt) → erasure-code → one
 * shard per backend. Chunk k+1 compresses on libuv's thread pool while chunk k is sealed
 * and coded here, while the shards of up to `inFlight` earlier chunks are on their way
 * (each backend connection pipelines them). Memory is bounded whatever the object's size:
 * 3 plaintext chunks (the chunker's ring), inFlight + 2 sealed chunks and inFlight + 2
 * parity sets, each in a ring allocated once per object; with the defaults (4 MiB, 4+2,
 * inFlight 3) about 3 + 5 + 5 × 0.5 = 10.5 chunks, 42 MiB, plus what the sockets hold of
 * those same buffers (no copies).
 */

const INCOMPRESSIBLE_RUN = 4;
const PROBE_EVERY = 8;

/** Chunks whose shards may be in flight at once when the caller does not say. */
export const DEFAULT_IN_FLIGHT = 3;

export interface WriteTarget {
  readonly backends: readonly ShardBackend[];
  readonly rs: ReedSolomon;
  readonly chunkSize: number;
  /** zstd level; 0 turns compression off. */
  readonly compressionLevel: number;
  readonly distinctFarms: boolean;
  /** Shards of each chunk that must be stored for the write to succeed (data+1..total). */
  readonly minShards: number;
  /** The data root (vdc/zstor-data/0). */
  readonly dataKey: Buffer;
  /** The shard-name HMAC key (from vdc/zstor-meta/0). */
  readonly nameKey: Buffer;
  /** Chunks being stored at once (1..16); default DEFAULT_IN_FLIGHT. */
  readonly inFlight?: number | undefined;
  /** Most chunks one object may have; default what its manifest surely holds (metadata-limits.ts). */
  readonly maxChunks?: number | undefined;
}

export interface WriteRequest {
  readonly name: string;
  readonly objectId: Buffer;
  readonly version: number;
  readonly versionSalt: Buffer;
  readonly createdAt: number;
}

/**
 * Writes one object version and returns its manifest. Shards whose backend failed are
 * recorded with backend null (to be repaired) as long as `minShards` of every chunk landed.
 * @throws VdcError ZSTOR_BACKEND_UNAVAILABLE when a chunk could not reach `minShards` backends;
 *   ZSTOR_OBJECT_TOO_LARGE when the source has more chunks than a manifest can describe
 */
export async function writeObject(
  target: WriteTarget,
  request: WriteRequest,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<ObjectManifest> {
  const { rs } = target;
  const key = versionKey(
    objectKey(target.dataKey, request.objectId),
    request.version,
    request.versionSalt,
  );
  const rules = { total: rs.total, distinctFarms: target.distinctFarms };
  const failed = new Set<string>();
  const plainHash = createHash('sha256');
  const chunks: ChunkRecord[] = [];
  let size = 0;
  const maxChunks =
    target.maxChunks ??
    maxChunksPerObject(rs.data, rs.parity, Math.max(0, ...target.backends.map((b) => b.id.length)));
  const window = target.inFlight ?? DEFAULT_IN_FLIGHT;
  assertInteger(window, 'inFlight', 1, 16, 'ZSTOR_CONFIG_INVALID');
  const inFlight: Promise<void>[] = [];
  let index = 0;
  // Parity buffers in a ring of window+2 sets: when chunk j is encoded, at most the stores
  // of chunks j-window..j-1 are pending (handle(j-1) waited for the older ones), so the set
  // j-window-2 it reuses is free, with one to spare. Backends keep no reference to what they
  // were given once a put resolves.
  const ring = window + 2;
  const parityRing: Buffer[][] = [];
  // Sealed chunks (ciphertext, tag, padding: the data shards are views of it) in a ring of
  // the same size and for the same reason; allocated once per object, never per chunk.
  const areaBytes = sealedShardLength(target.chunkSize + SEAL_OVERHEAD, rs.data) * rs.data;
  const areaRing: Buffer[] = [];
  const areaFor = (chunk: number): Buffer => {
    const at = chunk % ring;
    areaRing[at] ??= Buffer.allocUnsafe(areaBytes);
    return areaRing[at];
  };
  const parityFor = (chunk: number, len: number): Buffer[] => {
    const at = chunk % ring;
    let set = parityRing[at];
    if (set === undefined || set[0]?.length !== len) {
      set = Array.from({ length: rs.parity }, () => Buffer.allocUnsafe(len));
      parityRing[at] = set;
    }
    return set;
  };
  // Three stages overlap: chunk i+1 compresses on the thread pool while chunk i is
  // encrypted, coded and hashed here, while the shards of up to `window` earlier chunks
  // are on their way.
  const handle = async (chunk: number, plain: Buffer, packed: PackedChunk) => {
    const place = { objectId: request.objectId, version: request.version, chunk };
    const sealed = sealChunk(key, place, packed, areaFor(chunk));
    const dataShards = sealedDataShards(sealed, rs.data);
    const parity = parityFor(chunk, dataShards[0]!.length);
    rs.encodeInto(dataShards, parity);
    const shards = [...dataShards, ...parity];
    const encoded = shards.map((payload, i) =>
      encodeShard(
        {
          ...place,
          flags: sealed.flags,
          index: i,
          data: rs.data,
          parity: rs.parity,
          sealedLength: sealed.length,
        },
        payload,
      ),
    );
    const record: ChunkRecord = {
      size: plain.length,
      sealed: sealed.length,
      flags: sealed.flags,
      shards: encoded.map((s) => ({ backend: null, hash: s.hash.toString('hex') })),
    };
    chunks.push(record);
    while (inFlight.length >= window) await inFlight.shift();
    const placed = placeChunk(target.backends, rules, chunk, failed);
    const stored = storeChunk(target, request, chunk, encoded, placed, record.shards, failed);
    // Keep an unawaited rejection from being reported as unhandled before its turn.
    stored.catch(() => {});
    inFlight.push(stored);
  };
  // After INCOMPRESSIBLE_RUN chunks in a row that did not compress (encrypted, media or
  // archive data), only every PROBE_EVERY-th chunk is probed; one that compresses starts
  // probing every chunk again. The zstd contexts of the probes cost ~1 ms per chunk here.
  let incompressibleRun = 0;
  const skipProbe = (chunk: number) =>
    incompressibleRun >= INCOMPRESSIBLE_RUN && chunk % PROBE_EVERY !== 0;
  const noteVerdict = (p: PackedChunk) => {
    incompressibleRun = p.flags === 0 ? incompressibleRun + 1 : 0;
  };
  let pending: { chunk: number; plain: Buffer; packed: Promise<PackedChunk> } | undefined;
  try {
    // Chunk k's buffer is last read when chunk k is sealed, which happens before chunk k+2
    // is pulled (the loop awaits handle(k) first): a ring of 3 is safe with one to spare.
    for await (const plain of rechunk(source, target.chunkSize, 3)) {
      // Refused before this chunk is written, not after the whole object: the manifest
      // could not be stored (nor read back) and every shard would be an orphan.
      if (index >= maxChunks)
        fail(
          'ZSTOR_OBJECT_TOO_LARGE',
          `${JSON.stringify(request.name)} has more than ${maxChunks} chunks of ${target.chunkSize} bytes (${maxChunks * target.chunkSize} bytes), more than one manifest can describe: store it as several objects, or with a larger chunkSize; the chunks already written are orphans for \`vdc store gc\``,
        );
      plainHash.update(plain);
      size += plain.length;
      const packed = packChunk(plain, target.compressionLevel, skipProbe(index));
      packed.then(noteVerdict, () => {}); // awaited in turn below
      const current = { chunk: index++, plain, packed };
      if (pending !== undefined) await handle(pending.chunk, pending.plain, await pending.packed);
      pending = current;
    }
    if (pending !== undefined) await handle(pending.chunk, pending.plain, await pending.packed);
    while (inFlight.length > 0) await inFlight.shift();
  } catch (err) {
    // Let the stores still running finish before the caller reuses anything they hold.
    await Promise.allSettled(inFlight);
    throw asVdcError(err);
  }
  return {
    format: MANIFEST_FORMAT,
    name: request.name,
    objectId: request.objectId.toString('hex'),
    version: request.version,
    versionSalt: request.versionSalt.toString('hex'),
    size,
    sha256: plainHash.digest('hex'),
    createdAt: request.createdAt,
    data: rs.data,
    parity: rs.parity,
    chunkSize: target.chunkSize,
    chunks,
  };
}

async function storeChunk(
  target: WriteTarget,
  request: WriteRequest,
  chunk: number,
  encoded: readonly { header: Buffer; payload: Uint8Array }[],
  placed: readonly ShardBackend[],
  records: ShardRecord[],
  failed: Set<string>,
): Promise<void> {
  const errors: string[] = [];
  const tried = new Set<ShardBackend>(placed);
  const put = async (backend: ShardBackend, i: number) => {
    const shard = encoded[i]!;
    const key = shardKey(target.nameKey, request.objectId, request.version, chunk, i);
    try {
      await backend.put(key, [shard.header, shard.payload]);
      records[i]!.backend = backend.id;
    } catch (err) {
      // A backend that failed once is skipped for the rest of this object; repair refills.
      failed.add(backend.id);
      errors.push(`${backend.id}: ${asVdcError(err).message}`);
    }
  };
  await Promise.all(placed.map(put));
  // Shards that failed (or found no healthy backend) go to spare backends, if any, on nodes
  // (and farms) this chunk does not use yet, nor the failed ones' nodes (likely down too).
  for (let i = 0; i < encoded.length; i++) {
    while (records[i]!.backend === null) {
      const spare = target.backends.find(
        (b) =>
          !tried.has(b) &&
          !failed.has(b.id) &&
          ![...tried].some((t) => t.node === b.node || (target.distinctFarms && t.farm === b.farm)),
      );
      if (spare === undefined) break;
      tried.add(spare);
      await put(spare, i);
    }
  }
  const stored = records.filter((r) => r.backend !== null).length;
  if (stored < target.minShards)
    fail(
      'ZSTOR_BACKEND_UNAVAILABLE',
      `chunk ${chunk} of ${JSON.stringify(request.name)}: ${stored} of ${encoded.length} shards stored, ` +
        `${target.minShards} required${errors.length > 0 ? ` (${errors.join('; ')})` : ''}: bring backends back or add some on other nodes`,
    );
}
