import { asVdcError } from '../core/errors.ts';
import type { BlobRef, MetadataRoot } from './metadata-root.ts';
import { MetadataStore } from './metadata-store.ts';
import {
  chunkOrigins,
  type ObjectManifest,
  parseManifest,
  type ShardRecord,
} from './object-manifest.ts';
import { placeChunk } from './placement.ts';
import { ReedSolomon } from './reed-solomon.ts';
import type { ShardBackend } from './shard-backend.ts';
import { decodeShard } from './shard-format.ts';
import type { WriterLockOptions } from './writer-lock.ts';
import { rootKey, shardKey, shardNameKey, type ZstorKeys } from './zstor-keys.ts';

/*
 * `check`: reads every shard the metadata names — root, manifests, chunks — and says which
 * are missing, corrupt (their bytes fail their SHA-256, or zdb's own CRC), stale (a
 * well-formed shard that is not the one recorded: an older write, e.g. from a zdb restored
 * from an old copy) or unreachable (backend down). It needs the meta root only: shards are
 * checked by their hashes and headers, never decrypted. Orphans (shards no metadata names)
 * are not looked for: a ShardBackend cannot list its keys.
 */

export type ShardProblem = 'missing' | 'corrupt' | 'stale' | 'unreachable';

export interface ShardFinding {
  readonly kind: 'root' | 'manifest' | 'chunk';
  /** Object name and version (manifest and chunk findings). */
  readonly object?: string | undefined;
  readonly version?: number | undefined;
  readonly chunk?: number | undefined;
  readonly index: number;
  /** Backend id, null for a shard whose write failed. */
  readonly backend: string | null;
  readonly problem: ShardProblem;
  readonly detail: string;
}

export interface CheckReport {
  /** Generation of the metadata root checked (0: the store is empty). */
  readonly generation: number;
  readonly objects: number;
  readonly versions: number;
  readonly chunks: number;
  readonly shards: number;
  readonly findings: ShardFinding[];
  /** Chunks or manifests with fewer than `data` good shards: repair cannot rebuild them. */
  readonly lost: string[];
}

/** What check and repair need: the backends, the coding rules and the meta root alone. */
export interface MaintenanceTarget {
  readonly backends: readonly ShardBackend[];
  readonly keys: Pick<ZstorKeys, 'meta'>;
  readonly data: number;
  readonly parity: number;
  readonly distinctFarms?: boolean;
  readonly minShards?: number;
  /** Timing of the writer lock repair takes (tests shorten it). */
  readonly lock?: WriterLockOptions | undefined;
}

export function metadataStoreFor(t: MaintenanceTarget): MetadataStore {
  const rs = new ReedSolomon(t.data, t.parity);
  return new MetadataStore({
    backends: t.backends,
    rs,
    distinctFarms: t.distinctFarms ?? false,
    minShards: t.minShards ?? rs.total,
    metaKey: t.keys.meta,
    nameKey: shardNameKey(t.keys.meta),
  });
}

/** Where a group of shards (one chunk, or one manifest blob) lives and what it must be. */
export interface ShardGroup {
  readonly kind: 'manifest' | 'chunk';
  readonly object: string;
  readonly version: number;
  readonly chunk?: number | undefined;
  /** Header fields of the shards, as written. */
  readonly objectId: Buffer;
  readonly headerVersion: number;
  readonly headerChunk: number;
  readonly flags: number;
  readonly sealed: number;
  readonly data: number;
  readonly parity: number;
  readonly shards: readonly ShardRecord[];
}

export interface InspectedGroup {
  /** Payload of each good shard, undefined for bad ones. */
  readonly payloads: (Uint8Array | undefined)[];
  readonly findings: ShardFinding[];
}

export function manifestGroup(name: string, version: number, ref: BlobRef): ShardGroup {
  return {
    kind: 'manifest',
    object: name,
    version,
    objectId: Buffer.from(ref.id, 'hex'),
    headerVersion: 1,
    headerChunk: 0,
    flags: 0,
    sealed: ref.sealed,
    data: ref.data,
    parity: ref.parity,
    shards: ref.shards,
  };
}

/**
 * The shard groups of a manifest's chunks. A spliced (format 2) manifest's chunks carry the
 * headers and keys of the writes that sealed them (their sources), so those are what each
 * shard is checked against: a shard whose header names the part it came from is in its
 * right place; "stale" means another write of that same place.
 */
export function chunkGroups(m: ObjectManifest): ShardGroup[] {
  const origins = chunkOrigins(m);
  return m.chunks.map((c, i) => {
    const o = origins[i]!;
    return {
      kind: 'chunk',
      object: m.name,
      version: m.version,
      chunk: i,
      objectId: o.objectId,
      headerVersion: o.version,
      headerChunk: o.chunk,
      flags: c.flags,
      sealed: c.sealed,
      data: o.data,
      parity: o.parity,
      shards: c.shards,
    };
  });
}

/** Reads every shard of a group and says what is wrong with each bad one. */
export async function inspectGroup(
  g: ShardGroup,
  byId: ReadonlyMap<string, ShardBackend>,
  nameKey: Buffer,
): Promise<InspectedGroup> {
  const findings: ShardFinding[] = [];
  const place = { kind: g.kind, object: g.object, version: g.version, chunk: g.chunk };
  const payloads = await Promise.all(
    g.shards.map(async (rec, index): Promise<Uint8Array | undefined> => {
      const found = (problem: ShardProblem, detail: string) => {
        findings.push({ ...place, index, backend: rec.backend, problem, detail });
        return undefined;
      };
      if (rec.backend === null) return found('missing', 'never stored (its write failed)');
      const backend = byId.get(rec.backend);
      if (backend === undefined)
        return found('missing', `its backend ${rec.backend} is not in the config`);
      const key = shardKey(nameKey, g.objectId, g.headerVersion, g.headerChunk, index);
      let value: Uint8Array | undefined;
      try {
        value = await backend.get(key);
      } catch (err) {
        const e = asVdcError(err);
        return found(e.code === 'ZSTOR_SHARD_CORRUPT' ? 'corrupt' : 'unreachable', e.message);
      }
      if (value === undefined) return found('missing', `absent from ${backend.id}`);
      try {
        const shard = decodeShard(value, `shard on ${backend.id}`);
        if (shard.hash.toString('hex') === rec.hash) return shard.payload;
        const samePlace =
          shard.objectId.equals(g.objectId) &&
          shard.version === g.headerVersion &&
          shard.chunk === g.headerChunk &&
          shard.index === index;
        return samePlace
          ? found('stale', `${backend.id} holds another write of this shard, not the recorded one`)
          : found('corrupt', `${backend.id} holds a shard of another place under this key`);
      } catch (err) {
        return found('corrupt', asVdcError(err).message);
      }
    }),
  );
  return { payloads, findings };
}

export function groupLabel(g: ShardGroup): string {
  const what = g.kind === 'chunk' ? `chunk ${g.chunk} of` : 'manifest of';
  return `${what} ${JSON.stringify(g.object)} version ${g.version}`;
}

/** The root shards expected for `root`'s generation, checked on the backends it went to. */
export async function inspectRoot(
  t: MaintenanceTarget,
  root: MetadataRoot,
  nameKey: Buffer,
): Promise<ShardFinding[]> {
  if (root.generation === 0) return [];
  const total = t.data + t.parity;
  const placed = placeChunk(
    t.backends,
    { total, distinctFarms: t.distinctFarms ?? false },
    root.generation,
  );
  const key = rootKey(nameKey, (root.generation % 2) as 0 | 1);
  const findings: ShardFinding[] = [];
  await Promise.all(
    placed.map(async (backend, index) => {
      const found = (problem: ShardProblem, detail: string) =>
        findings.push({ kind: 'root', index, backend: backend.id, problem, detail });
      try {
        const value = await backend.get(key);
        if (value === undefined) return found('missing', `absent from ${backend.id}`);
        const shard = decodeShard(value, `root shard on ${backend.id}`);
        if (shard.version < root.generation)
          return found(
            'stale',
            `${backend.id} holds root generation ${shard.version}, current is ${root.generation}`,
          );
        if (shard.version !== root.generation || shard.index !== index)
          return found('stale', `${backend.id} holds another root shard`);
      } catch (err) {
        const e = asVdcError(err);
        found(
          e.code === 'ZSTOR_BACKEND_UNAVAILABLE' || e.code === 'ZSTOR_BACKEND_REFUSED'
            ? 'unreachable'
            : 'corrupt',
          e.message,
        );
      }
    }),
  );
  return findings;
}

/**
 * Checks every shard of every version of every object, and the root's.
 * @throws VdcError ZSTOR_BACKEND_UNAVAILABLE / ZSTOR_METADATA_NOT_FOUND when the root cannot be read
 */
export async function checkStore(
  t: MaintenanceTarget,
  onProgress?: (done: number, total: number) => void,
): Promise<CheckReport> {
  const meta = metadataStoreFor(t);
  const nameKey = shardNameKey(t.keys.meta);
  const byId = new Map(t.backends.map((b) => [b.id, b]));
  const root = await meta.loadRoot();
  const findings = await inspectRoot(t, root, nameKey);
  const lost: string[] = [];
  let versions = 0;
  let chunks = 0;
  let shards = root.generation === 0 ? 0 : t.data + t.parity;
  const entries = Object.entries(root.objects);
  const total = entries.reduce((n, [, e]) => n + e.versions.length, 0);
  for (const [name, entry] of entries)
    for (const v of entry.versions) {
      versions++;
      const mg = manifestGroup(name, v.version, v.manifest);
      const inspected = await inspectGroup(mg, byId, nameKey);
      findings.push(...inspected.findings);
      shards += mg.shards.length;
      let manifest: ObjectManifest;
      try {
        manifest = parseManifest(await meta.getManifest(v.manifest));
      } catch (err) {
        lost.push(`${groupLabel(mg)}: ${asVdcError(err).message}`);
        continue;
      }
      for (const g of chunkGroups(manifest)) {
        chunks++;
        shards += g.shards.length;
        const r = await inspectGroup(g, byId, nameKey);
        findings.push(...r.findings);
        const good = r.payloads.filter((p) => p !== undefined).length;
        if (good < g.data) lost.push(`${groupLabel(g)}: ${good} good shards, ${g.data} needed`);
      }
      onProgress?.(versions, total);
    }
  return {
    generation: root.generation,
    objects: entries.length,
    versions,
    chunks,
    shards,
    findings,
    lost,
  };
}
