import { asVdcError } from '../core/errors.ts';
import { type MaintenanceTarget, metadataStoreFor } from './check.ts';
import { chunkOrigins, parseManifest } from './object-manifest.ts';
import type { ShardBackend } from './shard-backend.ts';
import { decodeShard } from './shard-format.ts';
import { lockKey, WriterLock } from './writer-lock.ts';
import { rootKey, shardKey, shardNameKey } from './zstor-keys.ts';

/*
 * `gc`: deletes orphan shards, the ones no metadata names: left by writes that failed or
 * were interrupted after some chunks landed, by deletes that could not reach a backend,
 * by repair moving a shard away from a backend that was down. It runs under the writer
 * lock, and every writer holds that lock from its first shard to its root update, so no
 * write in progress has shards that only look orphaned.
 *
 * A key is deleted only when all of these hold, so a referenced shard is never touched
 * and neither is anything else sharing the namespace (another store, another user):
 *   - the root and every manifest it lists were read (any failure: nothing is deleted);
 *   - the key is none of the keys the metadata names (root slots, lock, manifest blobs,
 *     every shard index of every chunk of every version, on any backend; a spliced
 *     version names its chunks by the parts that wrote them, see chunkOrigins);
 *   - its value is a well-formed shard whose place (object id, version, chunk, index),
 *     keyed-hashed under our name key, gives exactly this key: proof that this store wrote
 *     it, since only the meta key's holder can compute that hash.
 * It needs the meta key only, like check and repair.
 */

export interface GcReport {
  readonly scanned: number;
  readonly orphans: number;
  readonly deleted: number;
  readonly bytes: number;
  /** Keys that are not this store's (another store shares the namespace): left alone. */
  readonly foreign: number;
  /** Backends that could not be listed (down, or no SCAN), so their orphans remain. */
  readonly skipped: string[];
}

/**
 * Finds (and unless `dryRun`, deletes) orphan shards on every backend.
 * @throws VdcError ZSTOR_LOCKED when a writer keeps the lock; any metadata read error
 *   (ZSTOR_SHARDS_MISSING, ZSTOR_METADATA_NOT_FOUND, ...) before anything is deleted
 */
export async function collectGarbage(
  t: MaintenanceTarget,
  options: { dryRun?: boolean } = {},
): Promise<GcReport> {
  const nameKey = shardNameKey(t.keys.meta);
  const lock = await new WriterLock(t.backends, nameKey, t.lock).acquire();
  try {
    const referenced = await referencedKeys(t, nameKey);
    let scanned = 0;
    let orphans = 0;
    let deleted = 0;
    let bytes = 0;
    let foreign = 0;
    const skipped: string[] = [];
    for (const backend of t.backends) {
      const candidates = await unreferenced(backend, referenced, skipped);
      if (candidates === undefined) continue;
      scanned += candidates.scanned;
      for (const key of candidates.keys) {
        const size = await ourOrphan(backend, key, nameKey);
        if (size === undefined) {
          foreign++;
          continue;
        }
        orphans++;
        bytes += size;
        if (!options.dryRun && (await backend.delete(key).catch(() => false))) deleted++;
      }
    }
    return { scanned, orphans, deleted, bytes, foreign, skipped };
  } finally {
    await lock.release();
  }
}

async function referencedKeys(t: MaintenanceTarget, nameKey: Buffer): Promise<Set<string>> {
  const meta = metadataStoreFor(t);
  const keys = new Set<string>([
    rootKey(nameKey, 0).toString('hex'),
    rootKey(nameKey, 1).toString('hex'),
    lockKey(nameKey).toString('hex'),
  ]);
  const root = await meta.loadRoot();
  for (const entry of Object.values(root.objects))
    for (const v of entry.versions) {
      const blobId = Buffer.from(v.manifest.id, 'hex');
      for (let i = 0; i < v.manifest.data + v.manifest.parity; i++)
        keys.add(shardKey(nameKey, blobId, 1, 0, i).toString('hex'));
      // A spliced manifest's chunks keep their parts' shard keys: those are what it names.
      const m = parseManifest(await meta.getManifest(v.manifest));
      for (const o of chunkOrigins(m))
        for (let i = 0; i < o.data + o.parity; i++)
          keys.add(shardKey(nameKey, o.objectId, o.version, o.chunk, i).toString('hex'));
    }
  return keys;
}

async function unreferenced(
  backend: ShardBackend,
  referenced: ReadonlySet<string>,
  skipped: string[],
): Promise<{ scanned: number; keys: Uint8Array[] } | undefined> {
  if (backend.keys === undefined) {
    skipped.push(`${backend.id}: cannot list its keys`);
    return undefined;
  }
  const keys: Uint8Array[] = [];
  let scanned = 0;
  try {
    for await (const key of backend.keys()) {
      scanned++;
      if (!referenced.has(Buffer.from(key).toString('hex'))) keys.push(key);
    }
  } catch (err) {
    skipped.push(`${backend.id}: ${asVdcError(err).message}`);
    return undefined;
  }
  return { scanned, keys };
}

/** The size of the value when it is a shard this store wrote under `key`, else undefined. */
async function ourOrphan(
  backend: ShardBackend,
  key: Uint8Array,
  nameKey: Buffer,
): Promise<number | undefined> {
  try {
    const value = await backend.get(key);
    if (value === undefined) return undefined;
    const s = decodeShard(value, 'candidate');
    const expected = shardKey(nameKey, s.objectId, s.version, s.chunk, s.index);
    return expected.equals(Buffer.from(key)) ? value.length : undefined;
  } catch {
    return undefined; // unreadable, not a shard, or damaged: not provably ours, so kept
  }
}
