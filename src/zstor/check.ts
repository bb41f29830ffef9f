import { assertInteger } from '../core/assert.ts';
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
import {
  DEFAULT_MAINTENANCE_IN_FLIGHT,
  MAX_MAINTENANCE_IN_FLIGHT,
  TaskWindow,
} from './task-window.ts';
import type { WriterLockOptions } from './writer-lock.ts';
import { rootKey, shardKey, shardNameKey, type ZstorKeys } from './zstor-keys.ts';

/*
 * `check`: reads every shard the metadata names — root, manifests, chunks — and says which
 * are missing, corrupt (their bytes fail their SHA-256, or zdb's own CRC), stale (a
 * well-formed shard that is not the one recorded: an older write, e.g. from a zdb restored
 * from an old copy) or unreachable (backend down). It needs the meta root only: shards are
 * checked by their hashes and headers, never decrypted. Orphans (shards no metadata names)
 * are gc's business (garbage-collect.ts).
 *
 * Chunk groups are inspected `maintenanceInFlight` at a time (task-window.ts), so over a
 * network the round trips overlap; results are gathered in metadata order, so the report
 * is the same whatever the window.
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
  /**
   * Chunk groups (a chunk's or a manifest's shards) check and repair work on at once,
   * 1..MAX_MAINTENANCE_IN_FLIGHT; default DEFAULT_MAINTENANCE_IN_FLIGHT. Memory: about
   * this many chunks' shards.
   */
  readonly maintenanceInFlight?: number | undefined;
}

/** The window of chunk groups check and repair use. @throws VdcError ZSTOR_CONFIG_INVALID */
export function maintenanceWindow(t: MaintenanceTarget): TaskWindow {
  const size = t.maintenanceInFlight ?? DEFAULT_MAINTENANCE_IN_FLIGHT;
  assertInteger(size, 'maintenanceInFlight', 1, MAX_MAINTENANCE_IN_FLIGHT, 'ZSTOR_CONFIG_INVALID');
  return new TaskWindow(size);
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
  // Shards answer in any order; the report lists them by index.
  findings.sort((a, b) => a.index - b.index);
  return { payloads, findings };
}

/**
 * One version's manifest, read and parsed, with its chunk groups; or, when it cannot be
 * read (shards lost, a bad blob), why — check reports it lost, repair reports it failed.
 */
export async function readVersion(
  meta: MetadataStore,
  mg: ShardGroup,
  ref: BlobRef,
): Promise<{ manifest?: ObjectManifest; groups: ShardGroup[]; lost?: string }> {
  try {
    const manifest = parseManifest(await meta.getManifest(ref));
    return { manifest, groups: chunkGroups(manifest) };
  } catch (err) {
    return { groups: [], lost: `${groupLabel(mg)}: ${asVdcError(err).message}` };
  }
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
  return findings.sort((a, b) => a.index - b.index);
}

interface VersionCheck {
  readonly findings: ShardFinding[];
  readonly lost: string[];
  readonly chunks: number;
  readonly shards: number;
}

interface GroupCheck {
  readonly findings: ShardFinding[];
  readonly lost: string | undefined;
}

/** One chunk group's findings; its payloads are dropped here, so memory holds a window's worth. */
async function checkGroup(
  g: ShardGroup,
  byId: ReadonlyMap<string, ShardBackend>,
  nameKey: Buffer,
): Promise<GroupCheck> {
  const r = await inspectGroup(g, byId, nameKey);
  const good = r.payloads.filter((p) => p !== undefined).length;
  return {
    findings: r.findings,
    lost: good < g.data ? `${groupLabel(g)}: ${good} good shards, ${g.data} needed` : undefined,
  };
}

/**
 * Checks every shard of every version of every object, and the root's. Chunk groups are
 * read `maintenanceInFlight` at a time; the report lists findings in metadata order.
 * @throws VdcError ZSTOR_BACKEND_UNAVAILABLE / ZSTOR_METADATA_NOT_FOUND when the root cannot be read;
 *   ZSTOR_CONFIG_INVALID for a bad maintenanceInFlight
 */
export async function checkStore(
  t: MaintenanceTarget,
  onProgress?: (done: number, total: number) => void,
): Promise<CheckReport> {
  const window = maintenanceWindow(t);
  const meta = metadataStoreFor(t);
  const nameKey = shardNameKey(t.keys.meta);
  const byId = new Map(t.backends.map((b) => [b.id, b]));
  const root = await meta.loadRoot();
  const findings = await inspectRoot(t, root, nameKey);
  const entries = Object.entries(root.objects);
  const total = entries.reduce((n, [, e]) => n + e.versions.length, 0);
  const versions: Promise<VersionCheck>[] = [];
  let done = 0;
  try {
    for (const [name, entry] of entries)
      for (const v of entry.versions) {
        const mg = manifestGroup(name, v.version, v.manifest);
        const { result: manifestFindings } = await window.start(
          async () => (await inspectGroup(mg, byId, nameKey)).findings,
        );
        // The manifest is read here, one at a time (its chunks are what the window fills
        // with), so memory holds the manifests of the versions in the window only.
        const { groups, lost: manifestLost } = await readVersion(meta, mg, v.manifest);
        const checked: Promise<GroupCheck>[] = [];
        for (const g of groups)
          checked.push((await window.start(() => checkGroup(g, byId, nameKey))).result);
        const finished = await window.start(async () => {
          const out: VersionCheck = {
            findings: [...(await manifestFindings)],
            lost: manifestLost === undefined ? [] : [manifestLost],
            chunks: groups.length,
            shards: mg.shards.length + groups.reduce((n, g) => n + g.shards.length, 0),
          };
          for (const r of await Promise.all(checked)) {
            out.findings.push(...r.findings);
            if (r.lost !== undefined) out.lost.push(r.lost);
          }
          onProgress?.(++done, total);
          return out;
        });
        versions.push(finished.result);
      }
  } finally {
    await window.idle();
  }
  const lost: string[] = [];
  let chunks = 0;
  let shards = root.generation === 0 ? 0 : t.data + t.parity;
  for (const p of versions) {
    const r = await p;
    findings.push(...r.findings);
    lost.push(...r.lost);
    chunks += r.chunks;
    shards += r.shards;
  }
  return {
    generation: root.generation,
    objects: entries.length,
    versions: versions.length,
    chunks,
    shards,
    findings,
    lost,
  };
}
