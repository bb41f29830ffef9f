import type { JsonValue } from '../core/canonical-json.ts';
import { asVdcError } from '../core/errors.ts';
import {
  type CheckReport,
  groupLabel,
  type InspectedGroup,
  inspectGroup,
  inspectRoot,
  type MaintenanceTarget,
  maintenanceWindow,
  manifestGroup,
  metadataStoreFor,
  readVersion,
  type ShardGroup,
} from './check.ts';
import type { BlobRef, MetadataRoot, VersionRef } from './metadata-root.ts';
import type { MetadataStore } from './metadata-store.ts';
import type { ShardRecord } from './object-manifest.ts';
import { ReedSolomon } from './reed-solomon.ts';
import type { ShardBackend } from './shard-backend.ts';
import { encodeShard } from './shard-format.ts';
import type { TaskWindow } from './task-window.ts';
import { type HeldLock, WriterLock } from './writer-lock.ts';
import { shardKey, shardNameKey } from './zstor-keys.ts';

/*
 * `repair`: for every shard check finds bad, rebuild it from `data` good shards of its
 * group (Reed-Solomon over ciphertext: nothing is decrypted, only the meta root is used)
 * and store it again — in place when its backend answers, else on a healthy backend on a
 * node (and, with distinctFarms, a farm) the group does not use. A rebuilt shard is the
 * same bytes as the original (same header, same coded payload), so its hash is the one
 * the metadata recorded; only a move changes the metadata: the manifest is written anew,
 * the root points at it, and the old manifest is deleted. Bad root shards are healed by
 * saving the root again as a new generation.
 */

export interface RepairReport {
  /** Bad shards found (root shards included). */
  readonly found: number;
  /** Shards rebuilt onto the backend that should hold them. */
  readonly rewritten: number;
  /** Shards rebuilt onto another backend (their manifest was updated). */
  readonly moved: number;
  /** Whether the root was saved again (its generation after repair). */
  readonly generation: number;
  /** What could not be repaired, and why. */
  readonly failed: string[];
}

/** What is shared by the groups being repaired at once. */
interface Context {
  readonly t: MaintenanceTarget;
  readonly byId: ReadonlyMap<string, ShardBackend>;
  readonly nameKey: Buffer;
  /** Backends that failed during this repair: not written to again (seen by every group). */
  readonly down: Set<string>;
}

/** What one group (or one version's manifest) repaired; merged in metadata order. */
interface Tally {
  found: number;
  rewritten: number;
  moved: number;
  readonly failed: string[];
}

const newTally = (): Tally => ({ found: 0, rewritten: 0, moved: 0, failed: [] });

function addTally(to: Tally, from: Tally): void {
  to.found += from.found;
  to.rewritten += from.rewritten;
  to.moved += from.moved;
  to.failed.push(...from.failed);
}

interface GroupFix {
  readonly records: ShardRecord[];
  readonly moved: boolean;
  readonly tally: Tally;
}

interface VersionFix {
  readonly version: VersionRef;
  /** The manifest blob this version no longer uses (deleted after the root save). */
  readonly retired: BlobRef | undefined;
  readonly tally: Tally;
}

/**
 * Repairs every bad shard it can find. Never needs the data key. Chunk groups are
 * repaired `maintenanceInFlight` at a time; a group that fails is reported in `failed` and
 * the others go on. Manifests are rewritten once per version, the root once at the end.
 * @throws VdcError ZSTOR_BACKEND_UNAVAILABLE / ZSTOR_METADATA_NOT_FOUND when the root cannot be read;
 *   ZSTOR_LOCKED when a writer keeps the lock; ZSTOR_CONFIG_INVALID for a bad maintenanceInFlight
 */
export async function repairStore(
  t: MaintenanceTarget,
  onProgress?: (done: number, total: number) => void,
): Promise<RepairReport> {
  const window = maintenanceWindow(t);
  // Repair rewrites manifests and the root: it is a writer like put (see writer-lock.ts).
  const lock = await new WriterLock(t.backends, shardNameKey(t.keys.meta), t.lock).acquire();
  try {
    return await repairLocked(t, lock, window, onProgress);
  } finally {
    await lock.release();
  }
}

async function repairLocked(
  t: MaintenanceTarget,
  lock: HeldLock,
  window: TaskWindow,
  onProgress?: (done: number, total: number) => void,
): Promise<RepairReport> {
  const meta = metadataStoreFor(t);
  const nameKey = shardNameKey(t.keys.meta);
  const ctx: Context = {
    t,
    byId: new Map(t.backends.map((b) => [b.id, b])),
    nameKey,
    down: new Set(),
  };
  const tally = newTally();
  const root = await meta.loadRoot();
  const rootFindings = await inspectRoot(t, root, nameKey);
  tally.found += rootFindings.length;
  for (const f of rootFindings)
    if (f.problem === 'unreachable' && f.backend) ctx.down.add(f.backend);
  const total = Object.values(root.objects).reduce((n, e) => n + e.versions.length, 0);
  const progress = { done: 0, total, onProgress };
  const fixed: [string, Promise<VersionFix>[]][] = [];
  try {
    for (const [name, entry] of Object.entries(root.objects)) {
      const versions: Promise<VersionFix>[] = [];
      fixed.push([name, versions]);
      for (const v of entry.versions)
        versions.push((await repairVersion(ctx, meta, window, name, v, progress)).result);
    }
  } finally {
    // Every started group finishes before the root is saved or an error leaves.
    await window.idle();
  }
  let rootChanged = false;
  const objects: MetadataRoot['objects'] = {};
  const retired: BlobRef[] = [];
  for (const [name, versions] of fixed) {
    const refs: VersionRef[] = [];
    for (const p of versions) {
      const r = await p;
      addTally(tally, r.tally);
      refs.push(r.version);
      if (r.version.manifest !== root.objects[name]!.versions[refs.length - 1]!.manifest)
        rootChanged = true;
      if (r.retired !== undefined) retired.push(r.retired);
    }
    objects[name] = { ...root.objects[name]!, versions: refs };
  }
  let generation = root.generation;
  // Saving again heals root shards that are missing, corrupt or stale; an unreachable
  // backend is not healed by it (and may make the save fall short of minShards).
  const rootBad = rootFindings.filter((f) => f.problem !== 'unreachable');
  for (const f of rootFindings)
    if (f.problem === 'unreachable') tally.failed.push(`root shard ${f.index}: ${f.detail}`);
  if (rootChanged || rootBad.length > 0) {
    try {
      await lock.verify();
      generation = (await meta.saveRoot({ ...root, objects })).generation;
      tally.rewritten += rootBad.length;
      for (const ref of retired) await meta.deleteManifest(ref);
    } catch (err) {
      tally.failed.push(`saving the metadata root: ${asVdcError(err).message}`);
    }
  }
  return {
    found: tally.found,
    rewritten: tally.rewritten,
    moved: tally.moved,
    generation,
    failed: tally.failed,
  };
}

/**
 * Starts the repair of one version: its manifest's shards are inspected and its chunk
 * groups repaired in the window; the returned task (itself in the window, after them)
 * records moved shards in a new manifest. Resolves once that task has started.
 */
async function repairVersion(
  ctx: Context,
  meta: MetadataStore,
  window: TaskWindow,
  name: string,
  v: VersionRef,
  progress: {
    done: number;
    total: number;
    onProgress?: ((d: number, n: number) => void) | undefined;
  },
): Promise<{ readonly result: Promise<VersionFix> }> {
  const mg = manifestGroup(name, v.version, v.manifest);
  const { result: inspectedManifest } = await window.start(() =>
    inspectGroup(mg, ctx.byId, ctx.nameKey),
  );
  const { manifest, groups, lost: manifestError } = await readVersion(meta, mg, v.manifest);
  const fixes: Promise<GroupFix>[] = [];
  for (const g of groups) fixes.push((await window.start(() => repairGroup(ctx, g))).result);
  const finished = await window.start(async (): Promise<VersionFix> => {
    const tally = newTally();
    try {
      const inspected = await inspectedManifest;
      if (manifest === undefined) {
        tally.found += inspected.findings.length;
        tally.failed.push(manifestError!);
        return { version: v, retired: undefined, tally };
      }
      let moved = false;
      for (const [i, f] of (await Promise.all(fixes)).entries()) {
        addTally(tally, f.tally);
        if (f.moved) {
          manifest.chunks[i]!.shards = f.records;
          moved = true;
        }
      }
      if (moved) {
        // The new manifest is written whole; the old one is retired after the root is saved.
        tally.found += inspected.findings.length;
        try {
          const ref = await meta.putManifest(manifest as unknown as JsonValue);
          return { version: { ...v, manifest: ref }, retired: v.manifest, tally };
        } catch (err) {
          // The moved shards are extra copies until a later repair records them.
          tally.failed.push(
            `recording moved shards of ${groupLabel(mg)}: ${asVdcError(err).message}`,
          );
          return { version: v, retired: undefined, tally };
        }
      }
      const own = await fixGroup(ctx, mg, inspected, tally);
      const ref = own.moved ? { ...v.manifest, shards: own.records } : v.manifest;
      return { version: { ...v, manifest: ref }, retired: undefined, tally };
    } catch (err) {
      // Not a backend's answer (those are caught where they happen): still, the other
      // versions go on, and the report says what went wrong here.
      tally.failed.push(`${groupLabel(mg)}: ${asVdcError(err).message}`);
      return { version: v, retired: undefined, tally };
    } finally {
      progress.onProgress?.(++progress.done, progress.total);
    }
  });
  return finished;
}

/** Inspects and repairs one chunk group; never rejects (a failure is in its tally). */
async function repairGroup(ctx: Context, g: ShardGroup): Promise<GroupFix> {
  const tally = newTally();
  try {
    const inspected = await inspectGroup(g, ctx.byId, ctx.nameKey);
    return { ...(await fixGroup(ctx, g, inspected, tally)), tally };
  } catch (err) {
    tally.failed.push(`${groupLabel(g)}: ${asVdcError(err).message}`);
    return { records: g.shards.map((r) => ({ ...r })), moved: false, tally };
  }
}

/** Rebuilds the bad shards of one group; returns the records (changed when shards moved). */
async function fixGroup(
  ctx: Context,
  g: ShardGroup,
  inspected: InspectedGroup,
  tally: Tally,
): Promise<{ records: ShardRecord[]; moved: boolean }> {
  const records = g.shards.map((r) => ({ ...r }));
  if (inspected.findings.length === 0) return { records, moved: false };
  tally.found += inspected.findings.length;
  for (const f of inspected.findings)
    if (f.problem === 'unreachable' && f.backend !== null) ctx.down.add(f.backend);
  const rs = new ReedSolomon(g.data, g.parity);
  const slots = [...inspected.payloads];
  const good = slots.filter((s) => s !== undefined).length;
  if (good < g.data) {
    tally.failed.push(`${groupLabel(g)}: ${good} good shards, ${g.data} needed: lost`);
    return { records, moved: false };
  }
  rs.reconstruct(slots);
  let moved = false;
  for (const f of inspected.findings) {
    const i = f.index;
    const shard = encodeShard(
      {
        flags: g.flags,
        objectId: g.objectId,
        version: g.headerVersion,
        chunk: g.headerChunk,
        index: i,
        data: g.data,
        parity: g.parity,
        sealedLength: g.sealed,
      },
      slots[i]!,
    );
    const label = `shard ${i} of ${groupLabel(g)}`;
    if (shard.hash.toString('hex') !== records[i]!.hash) {
      tally.failed.push(`${label}: the rebuilt shard does not match its recorded hash`);
      continue;
    }
    const key = shardKey(ctx.nameKey, g.objectId, g.headerVersion, g.headerChunk, i);
    const parts = [shard.header, shard.payload];
    const current = records[i]!.backend;
    const home = current === null ? undefined : ctx.byId.get(current);
    if (home !== undefined && !ctx.down.has(home.id) && (await store(ctx, home, key, parts))) {
      tally.rewritten++;
      continue;
    }
    const target = await moveShard(ctx, records, i, key, parts);
    if (target === undefined) {
      tally.failed.push(
        `${label}: ${current ?? 'its backend'} is unavailable and no healthy backend on another node${ctx.t.distinctFarms ? ' and farm' : ''} is free for it`,
      );
      continue;
    }
    records[i]!.backend = target.id;
    tally.moved++;
    moved = true;
  }
  return { records, moved };
}

/** Writes one shard, first removing any damaged copy (zdb skips a SET whose CRC it already has). */
async function store(
  ctx: Context,
  backend: ShardBackend,
  key: Buffer,
  parts: Uint8Array[],
): Promise<boolean> {
  try {
    await backend.delete(key).catch((err: unknown) => {
      if (asVdcError(err).code === 'ZSTOR_BACKEND_UNAVAILABLE') throw err;
    });
    await backend.put(key, parts);
    return true;
  } catch {
    ctx.down.add(backend.id);
    return false;
  }
}

async function moveShard(
  ctx: Context,
  records: ShardRecord[],
  index: number,
  key: Buffer,
  parts: Uint8Array[],
): Promise<ShardBackend | undefined> {
  const others = records
    .filter((r, j) => j !== index && r.backend !== null)
    .map((r) => ctx.byId.get(r.backend!))
    .filter((b) => b !== undefined);
  const nodes = new Set(others.map((b) => b.node));
  const farms = new Set(others.map((b) => b.farm));
  for (const b of ctx.t.backends) {
    if (ctx.down.has(b.id) || nodes.has(b.node)) continue;
    if (ctx.t.distinctFarms && farms.has(b.farm)) continue;
    if (await store(ctx, b, key, parts)) return b;
  }
  return undefined;
}

/** Whether a check found nothing to repair and nothing lost. */
export function isHealthy(report: CheckReport): boolean {
  return report.findings.length === 0 && report.lost.length === 0;
}
