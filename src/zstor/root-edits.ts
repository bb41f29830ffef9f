import { randomBytes } from 'node:crypto';
import { fail } from '../core/assert.ts';
import type { BlobRef, MetadataRoot, ObjectEntry, VersionRef } from './metadata-root.ts';
import { chunkOrigins, type ObjectManifest } from './object-manifest.ts';
import type { ShardBackend } from './shard-backend.ts';
import { shardKey } from './zstor-keys.ts';

/*
 * The edits a write makes to the root's objects before it saves the root once (put, remove,
 * splice), and the shard deletions that follow the save. Pure helpers of zstor-store.ts.
 */

export type RootObjects = MetadataRoot['objects'];

/** The object id and version number the next version of an entry gets. */
export function nextVersion(entry: ObjectEntry | undefined): { objectId: Buffer; version: number } {
  return entry === undefined
    ? { objectId: randomBytes(16), version: 1 }
    : {
        objectId: Buffer.from(entry.objectId, 'hex'),
        version: Math.max(...entry.versions.map((v) => v.version)) + 1,
      };
}

/**
 * Adds `manifest` (stored at `ref`) as the newest version of its name in `objects`, keeping
 * only the newest `keep` versions; returns the versions that fell out (to delete after the
 * root is saved).
 */
export function enterVersion(
  objects: RootObjects,
  manifest: ObjectManifest,
  ref: BlobRef,
  keep: number | undefined,
): VersionRef[] {
  const entry = objects[manifest.name];
  const all: VersionRef[] = [
    ...(entry?.versions ?? []),
    {
      version: manifest.version,
      size: manifest.size,
      createdAt: manifest.createdAt,
      manifest: ref,
    },
  ];
  const versions = keep === undefined ? all : all.slice(-keep);
  objects[manifest.name] = { objectId: manifest.objectId, versions };
  return all.slice(0, all.length - versions.length);
}

/** The version `version` (default: the newest) of `name`. @throws VdcError ZSTOR_OBJECT_NOT_FOUND */
export function findVersion(root: MetadataRoot, name: string, version?: number): VersionRef {
  const entry = root.objects[name];
  const ref =
    version === undefined
      ? entry?.versions[entry.versions.length - 1]
      : entry?.versions.find((v) => v.version === version);
  if (ref === undefined)
    fail(
      'ZSTOR_OBJECT_NOT_FOUND',
      `no object named ${JSON.stringify(name)}${version === undefined ? '' : ` with version ${version}`}: see the list`,
    );
  return ref;
}

/**
 * Deletes the chunk shards a manifest names (for a spliced one: its parts' shards, which
 * it owns), best effort: what an unreachable backend keeps is an orphan for gc.
 */
export async function deleteShards(
  m: ObjectManifest,
  byId: ReadonlyMap<string, ShardBackend>,
  nameKey: Buffer,
): Promise<void> {
  const origins = chunkOrigins(m);
  for (const [c, chunk] of m.chunks.entries()) {
    const o = origins[c]!;
    await Promise.all(
      chunk.shards.map((s, i) =>
        s.backend === null
          ? undefined
          : byId
              .get(s.backend)
              ?.delete(shardKey(nameKey, o.objectId, o.version, o.chunk, i))
              .catch(() => false),
      ),
    );
  }
}
