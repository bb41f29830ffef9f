import type { JsonValue } from '../core/canonical-json.ts';
import { asVdcError } from '../core/errors.ts';
import {
  type CheckReport,
  chunkGroups,
  groupLabel,
  type InspectedGroup,
  inspectGroup,
  inspectRoot,
  type MaintenanceTarget,
  manifestGroup,
  metadataStoreFor,
  type ShardGroup,
} from './check.ts';
import type { BlobRef, MetadataRoot, VersionRef } from './metadata-root.ts';
import { type ObjectManifest, parseManifest, type ShardRecord } from './object-manifest.ts';
import { ReedSolomon } from './reed-solomon.ts';
import type { ShardBackend } from './shard-backend.ts';
import { encodeShard } from './shard-format.ts';
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

interface Context {
  readonly t: MaintenanceTarget;
  readonly byId: ReadonlyMap<string, ShardBackend>;
  readonly nameKey: Buffer;
  /** Backends that failed during this repair: not written to again. */
  readonly down: Set<string>;
  readonly failed: string[];
  found: number;
  rewritten: number;
  moved: number;
}

/**
 * Repairs every bad shard it can find. Never needs the data key.
 * @throws VdcError ZSTOR_BACKEND_UNAVAILABLE / ZSTOR_METADATA_NOT_FOUND when the root cannot be read or saved
 */
export async function repairStore(
  t: MaintenanceTarget,
  onProgress?: (done: number, total: number) => void,
): Promise<RepairReport> {
  // Repair rewrites manifests and the root: it is a writer like put (see writer-lock.ts).
  const lock = await new WriterLock(t.backends, shardNameKey(t.keys.meta), t.lock).acquire();
  try {
    return await repairLocked(t, lock, onProgress);
  } finally {
    await lock.release();
  }
}

async function repairLocked(
  t: MaintenanceTarget,
  lock: HeldLock,
  onProgress?: (done: number, total: number) => void,
): Promise<RepairReport> {
  const meta = metadataStoreFor(t);
  const nameKey = shardNameKey(t.keys.meta);
  const ctx: Context = {
    t,
    byId: new Map(t.backends.map((b) => [b.id, b])),
    nameKey,
    down: new Set(),
    failed: [],
    found: 0,
    rewritten: 0,
    moved: 0,
  };
  const root = await meta.loadRoot();
  const rootFindings = await inspectRoot(t, root, nameKey);
  ctx.found += rootFindings.length;
  for (const f of rootFindings)
    if (f.problem === 'unreachable' && f.backend) ctx.down.add(f.backend);
  let rootChanged = false;
  const objects: MetadataRoot['objects'] = {};
  const retired: BlobRef[] = [];
  const total = Object.values(root.objects).reduce((n, e) => n + e.versions.length, 0);
  let done = 0;
  for (const [name, entry] of Object.entries(root.objects)) {
    const versions: VersionRef[] = [];
    for (const v of entry.versions) {
      const mg = manifestGroup(name, v.version, v.manifest);
      const inspectedManifest = await inspectGroup(mg, ctx.byId, nameKey);
      let manifest: ObjectManifest | undefined;
      try {
        manifest = parseManifest(await meta.getManifest(v.manifest));
      } catch (err) {
        ctx.found += inspectedManifest.findings.length;
        ctx.failed.push(`${groupLabel(mg)}: ${asVdcError(err).message}`);
      }
      let ref = v.manifest;
      if (manifest !== undefined) {
        let moved = false;
        for (const g of chunkGroups(manifest)) {
          const fixed = await fixGroup(ctx, g, await inspectGroup(g, ctx.byId, nameKey));
          if (fixed.moved) {
            manifest.chunks[g.chunk!]!.shards = fixed.records;
            moved = true;
          }
        }
        if (moved) {
          // The new manifest is written whole; the old one is retired after the root is saved.
          ctx.found += inspectedManifest.findings.length;
          try {
            ref = await meta.putManifest(manifest as unknown as JsonValue);
            retired.push(v.manifest);
            rootChanged = true;
          } catch (err) {
            // The moved shards are extra copies until a later repair records them.
            ctx.failed.push(
              `recording moved shards of ${groupLabel(mg)}: ${asVdcError(err).message}`,
            );
          }
        } else {
          const fixed = await fixGroup(ctx, mg, inspectedManifest);
          if (fixed.moved) {
            ref = { ...ref, shards: fixed.records };
            rootChanged = true;
          }
        }
      }
      versions.push({ ...v, manifest: ref });
      onProgress?.(++done, total);
    }
    objects[name] = { ...entry, versions };
  }
  let generation = root.generation;
  // Saving again heals root shards that are missing, corrupt or stale; an unreachable
  // backend is not healed by it (and may make the save fall short of minShards).
  const rootBad = rootFindings.filter((f) => f.problem !== 'unreachable');
  for (const f of rootFindings)
    if (f.problem === 'unreachable') ctx.failed.push(`root shard ${f.index}: ${f.detail}`);
  if (rootChanged || rootBad.length > 0) {
    try {
      await lock.verify();
      generation = (await meta.saveRoot({ ...root, objects })).generation;
      ctx.rewritten += rootBad.length;
      for (const ref of retired) await meta.deleteManifest(ref);
    } catch (err) {
      ctx.failed.push(`saving the metadata root: ${asVdcError(err).message}`);
    }
  }
  return {
    found: ctx.found,
    rewritten: ctx.rewritten,
    moved: ctx.moved,
    generation,
    failed: ctx.failed,
  };
}

/** Rebuilds the bad shards of one group; returns the records (changed when shards moved). */
async function fixGroup(
  ctx: Context,
  g: ShardGroup,
  inspected: InspectedGroup,
): Promise<{ records: ShardRecord[]; moved: boolean }> {
  const records = g.shards.map((r) => ({ ...r }));
  if (inspected.findings.length === 0) return { records, moved: false };
  ctx.found += inspected.findings.length;
  for (const f of inspected.findings)
    if (f.problem === 'unreachable' && f.backend !== null) ctx.down.add(f.backend);
  const rs = new ReedSolomon(g.data, g.parity);
  const slots = [...inspected.payloads];
  const good = slots.filter((s) => s !== undefined).length;
  if (good < g.data) {
    ctx.failed.push(`${groupLabel(g)}: ${good} good shards, ${g.data} needed: lost`);
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
      ctx.failed.push(`${label}: the rebuilt shard does not match its recorded hash`);
      continue;
    }
    const key = shardKey(ctx.nameKey, g.objectId, g.headerVersion, g.headerChunk, i);
    const parts = [shard.header, shard.payload];
    const current = records[i]!.backend;
    const home = current === null ? undefined : ctx.byId.get(current);
    if (home !== undefined && !ctx.down.has(home.id) && (await store(ctx, home, key, parts))) {
      ctx.rewritten++;
      continue;
    }
    const target = await moveShard(ctx, records, i, key, parts);
    if (target === undefined) {
      ctx.failed.push(
        `${label}: ${current ?? 'its backend'} is unavailable and no healthy backend on another node${ctx.t.distinctFarms ? ' and farm' : ''} is free for it`,
      );
      continue;
    }
    records[i]!.backend = target.id;
    ctx.moved++;
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
