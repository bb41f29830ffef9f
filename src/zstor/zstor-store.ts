import { randomBytes } from 'node:crypto';
import { assertInteger, assertString, fail } from '../core/assert.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { keepFreedMemory } from '../zdb/index.ts';
import { MAX_SPLICE_SOURCES, spliceManifests } from './manifest-splice.ts';
import type { BlobRef, MetadataRoot, VersionRef } from './metadata-root.ts';
import { MetadataStore } from './metadata-store.ts';
import { type ObjectManifest, parseManifest, type SplicedManifest } from './object-manifest.ts';
import { type ByteRange, readObject } from './object-reader.ts';
import { writeObject } from './object-writer.ts';
import { checkPlacement } from './placement.ts';
import { ReedSolomon } from './reed-solomon.ts';
import {
  deleteShards,
  enterVersion,
  findVersion,
  nextVersion,
  type RootObjects,
} from './root-edits.ts';
import { MAX_SHARD_VALUE, type ShardBackend } from './shard-backend.ts';
import { SHARD_HEADER_BYTES } from './shard-format.ts';
import { MAX_MAINTENANCE_IN_FLIGHT } from './task-window.ts';
import { type HeldLock, WriterLock, type WriterLockOptions } from './writer-lock.ts';
import { shardNameKey, type ZstorKeys } from './zstor-keys.ts';

/*
 * The object store: names → versions → bytes, over a set of shard backends, with the
 * metadata kept on the same backends (metadata-store.ts). Writers (put, remove, repair)
 * take the store's writer lock (writer-lock.ts) for the whole operation: the version
 * number, the shard keys it names and the root update are decided by one writer at a
 * time, so two writers never lose each other's update. Readers take no lock.
 */

export interface ZstorOptions {
  readonly data: number;
  readonly parity: number;
  /** Plaintext bytes per chunk; default 4 MiB. */
  readonly chunkSize?: number;
  /** zstd level 1..19, 0 for none; default 3. */
  readonly compressionLevel?: number;
  readonly distinctFarms?: boolean;
  /** Shards per chunk a write needs stored; default data + parity (all). */
  readonly minShards?: number;
  /** Chunks stored at once on put and fetched ahead on get (1..16); default 3. */
  readonly inFlight?: number;
  /**
   * Chunk groups check and repair work on at once (1..32; default 4): not used by the
   * store itself, carried with the config's other options to checkStore / repairStore.
   */
  readonly maintenanceInFlight?: number;
  /** Timing of the writer lock (tests shorten it). */
  readonly lock?: WriterLockOptions;
  /**
   * Keep the writer lock this long after a write, so a burst of writes (an S3 server)
   * pays for taking it once; 0 (default) releases it at once. close() releases it.
   */
  readonly lockHoldMs?: number;
  readonly clock?: Clock;
}

export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;

export interface PutOptions {
  /** Keep only the newest this-many versions (the new one included); default all. */
  readonly keepVersions?: number;
}

export interface SpliceOptions {
  /** Keep only the newest this-many versions of the target (and of each `put` name). */
  readonly keepVersions?: number;
  /** Names removed in the same root save, every version; each must exist. */
  readonly remove?: readonly string[];
  /** Small objects stored in the same root save, made knowing the spliced version's number. */
  readonly put?: (
    version: number,
  ) => readonly { readonly name: string; readonly bytes: Uint8Array }[];
}

export interface ObjectInfo {
  readonly name: string;
  readonly version: number;
  readonly size: number;
  readonly createdAt: number;
  readonly versions: number;
}

export class ZstorStore {
  readonly #backends: readonly ShardBackend[];
  readonly #byId: ReadonlyMap<string, ShardBackend>;
  readonly #keys: ZstorKeys;
  readonly #nameKey: Buffer;
  readonly #rs: ReedSolomon;
  readonly #chunkSize: number;
  readonly #level: number;
  readonly #distinctFarms: boolean;
  readonly #minShards: number;
  readonly #inFlight: number | undefined;
  readonly #clock: Clock;
  readonly #meta: MetadataStore;
  readonly #lock: WriterLock;
  readonly #holdMs: number;
  /** Writes of this store, one after another (they share the held lock). */
  #queue: Promise<unknown> = Promise.resolve();
  #held: HeldLock | undefined;
  #holdTimer: NodeJS.Timeout | undefined;

  /**
   * @throws VdcError ZSTOR_CONFIG_INVALID / RS_CONFIG_INVALID on bad options
   * @throws VdcError ZSTOR_PLACEMENT_IMPOSSIBLE when the backends cannot keep shards on distinct nodes (or farms)
   */
  constructor(backends: readonly ShardBackend[], keys: ZstorKeys, options: ZstorOptions) {
    const C = 'ZSTOR_CONFIG_INVALID';
    // Chunks pass through many fresh buffers (cipher outputs, socket reads): keep freed
    // memory in the process rather than faulting in new pages for each (malloc-tuning.ts).
    keepFreedMemory();
    this.#rs = new ReedSolomon(options.data, options.parity);
    const total = this.#rs.total;
    this.#chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    assertInteger(this.#chunkSize, 'chunkSize', 1024, 64 * 1024 * 1024, C);
    // The largest shard (incompressible chunk, GCM tag, header) must fit a zdb value.
    const largest = Math.ceil((this.#chunkSize + 16) / options.data) + SHARD_HEADER_BYTES;
    if (largest > MAX_SHARD_VALUE)
      fail(
        C,
        `'chunkSize' ${this.#chunkSize} with data ${options.data} makes ${largest}-byte shards, over zdb's ${MAX_SHARD_VALUE}: lower chunkSize or raise data`,
      );
    this.#level = options.compressionLevel ?? 3;
    assertInteger(this.#level, 'compressionLevel', 0, 19, C);
    this.#minShards = options.minShards ?? total;
    assertInteger(this.#minShards, 'minShards', Math.min(total, options.data + 1), total, C);
    this.#distinctFarms = options.distinctFarms ?? false;
    this.#inFlight = options.inFlight;
    if (this.#inFlight !== undefined) assertInteger(this.#inFlight, 'inFlight', 1, 16, C);
    if (options.maintenanceInFlight !== undefined)
      assertInteger(
        options.maintenanceInFlight,
        'maintenanceInFlight',
        1,
        MAX_MAINTENANCE_IN_FLIGHT,
        C,
      );
    checkPlacement(backends, { total, distinctFarms: this.#distinctFarms });
    this.#backends = backends;
    this.#byId = new Map(backends.map((b) => [b.id, b]));
    this.#keys = keys;
    this.#nameKey = shardNameKey(keys.meta);
    this.#clock = options.clock ?? systemClock;
    this.#lock = new WriterLock(backends, this.#nameKey, options.lock);
    this.#holdMs = options.lockHoldMs ?? 0;
    assertInteger(this.#holdMs, 'lockHoldMs', 0, 60_000, C);
    this.#meta = new MetadataStore({
      backends,
      rs: this.#rs,
      distinctFarms: this.#distinctFarms,
      minShards: this.#minShards,
      metaKey: keys.meta,
      nameKey: this.#nameKey,
    });
  }

  /**
   * Stores `source` as the next version of `name`; returns its manifest.
   * @throws VdcError INPUT_INVALID on a bad name; ZSTOR_BACKEND_UNAVAILABLE when too few backends took it;
   *   ZSTOR_LOCKED when another writer keeps the lock; ZSTOR_LOCK_LOST when ours lapsed (nothing committed)
   */
  async put(
    name: string,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: PutOptions = {},
  ): Promise<ObjectManifest> {
    assertString(name, 'name', { min: 1, max: 1024 });
    if (options.keepVersions !== undefined)
      assertInteger(options.keepVersions, 'keepVersions', 1, 1_000_000);
    return this.#locked((lock) => this.#put(name, source, lock, options.keepVersions));
  }

  /** Runs one write operation under the writer lock. @throws VdcError ZSTOR_LOCKED */
  #locked<T>(fn: (lock: HeldLock) => Promise<T>): Promise<T> {
    const run = this.#queue.then(async () => {
      clearTimeout(this.#holdTimer);
      this.#held ??= await this.#lock.acquire();
      let ok = false;
      try {
        const result = await fn(this.#held);
        ok = true;
        return result;
      } finally {
        // After a failure (a lost lock among them) the lock is not kept.
        if (ok && this.#holdMs > 0) {
          this.#holdTimer = setTimeout(() => void this.#drop(), this.#holdMs);
          this.#holdTimer.unref();
        } else await this.#drop();
      }
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async #drop(): Promise<void> {
    const held = this.#held;
    this.#held = undefined;
    await held?.release();
  }

  /** Waits for writes in progress and releases the writer lock if held. */
  async close(): Promise<void> {
    await this.#queue;
    clearTimeout(this.#holdTimer);
    await this.#drop();
  }

  async #put(
    name: string,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    lock: HeldLock,
    keep: number | undefined,
  ): Promise<ObjectManifest> {
    const root = await this.#meta.loadRoot();
    const objects = { ...root.objects };
    const { manifest, pruned } = await this.#writeVersion(objects, name, source, keep);
    await lock.verify();
    await this.#meta.saveRoot({ ...root, objects });
    // Pruned versions go after the root no longer names them (best effort: what a down
    // backend keeps is an orphan for gc).
    await this.#deleteVersions(pruned);
    return manifest;
  }

  /**
   * Writes `source` as the next version of `name` (shards, then manifest) and enters it in
   * `objects`; returns its manifest and the versions `keep` pushed out. Nothing is visible
   * until the caller saves the root.
   */
  async #writeVersion(
    objects: RootObjects,
    name: string,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    keep: number | undefined,
  ): Promise<{ manifest: ObjectManifest; pruned: VersionRef[] }> {
    const { objectId, version } = nextVersion(objects[name]);
    const manifest = await writeObject(
      {
        backends: this.#backends,
        rs: this.#rs,
        chunkSize: this.#chunkSize,
        compressionLevel: this.#level,
        distinctFarms: this.#distinctFarms,
        minShards: this.#minShards,
        dataKey: this.#keys.data,
        nameKey: this.#nameKey,
        inFlight: this.#inFlight,
      },
      { name, objectId, version, versionSalt: randomBytes(16), createdAt: this.#clock.now() },
      source,
    );
    const ref = await this.#meta.putManifest(manifest as unknown as JsonValue);
    return { manifest, pruned: enterVersion(objects, manifest, ref, keep) };
  }

  /**
   * Makes the next version of `name` from the newest versions of `sources`, in order, by
   * reference (docs/zstor.md, "Splicing"): no data is read or written, only a format-2
   * manifest. In the same root save the sources leave the root (their chunks now belong to
   * `name`; their other versions and manifests are deleted after it), the names in
   * `options.remove` are removed and the small objects of `options.put` are stored, so a
   * crash leaves either everything before or everything after, plus orphans for gc.
   * @throws VdcError ZSTOR_OBJECT_NOT_FOUND when a source or a name to remove is absent;
   *   INPUT_INVALID on bad or repeated names; ZSTOR_LOCKED / ZSTOR_LOCK_LOST as put
   */
  async splice(
    name: string,
    sources: readonly string[],
    options: SpliceOptions = {},
  ): Promise<SplicedManifest> {
    assertString(name, 'name', { min: 1, max: 1024 });
    if (!Array.isArray(sources) || sources.length === 0 || sources.length > MAX_SPLICE_SOURCES)
      fail('INPUT_INVALID', `'sources' must list 1..${MAX_SPLICE_SOURCES} names`);
    const remove = options.remove ?? [];
    const names = [name, ...sources, ...remove];
    for (const [i, n] of names.entries()) assertString(n, `names[${i}]`, { min: 1, max: 1024 });
    if (new Set(names).size !== names.length)
      fail('INPUT_INVALID', 'a name is given twice (as the target, a source or one to remove)');
    if (options.keepVersions !== undefined)
      assertInteger(options.keepVersions, 'keepVersions', 1, 1_000_000);
    return this.#locked((lock) => this.#splice(name, sources, names, lock, options));
  }

  async #splice(
    name: string,
    sources: readonly string[],
    taken: readonly string[],
    lock: HeldLock,
    options: SpliceOptions,
  ): Promise<SplicedManifest> {
    const root = await this.#meta.loadRoot();
    const parts: ObjectManifest[] = [];
    for (const s of sources) parts.push(await this.#manifestIn(root, s));
    for (const r of options.remove ?? []) findVersion(root, r);
    const { objectId, version } = nextVersion(root.objects[name]);
    const manifest = spliceManifests(
      { name, objectId, version, createdAt: this.#clock.now() },
      parts,
    );
    const ref = await this.#meta.putManifest(manifest as unknown as JsonValue);
    const objects = { ...root.objects };
    // The sources' newest versions: their chunks now belong to `name`, only the manifest
    // blobs go. Everything else leaving the root is deleted whole after the save.
    const consumed: BlobRef[] = [];
    const retired: VersionRef[] = [];
    for (const s of sources) {
      const versions = objects[s]!.versions;
      consumed.push(versions[versions.length - 1]!.manifest);
      retired.push(...versions.slice(0, -1));
      delete objects[s];
    }
    for (const r of options.remove ?? []) {
      retired.push(...objects[r]!.versions);
      delete objects[r];
    }
    retired.push(...enterVersion(objects, manifest, ref, options.keepVersions));
    const extra = options.put?.(version) ?? [];
    const names = new Set(taken);
    for (const { name: n, bytes } of extra) {
      assertString(n, 'put name', { min: 1, max: 1024 });
      if (names.has(n))
        fail('INPUT_INVALID', `${JSON.stringify(n)} is already part of this splice`);
      names.add(n);
      const written = await this.#writeVersion(objects, n, [bytes], options.keepVersions);
      retired.push(...written.pruned);
    }
    await lock.verify();
    await this.#meta.saveRoot({ ...root, objects });
    for (const blob of consumed) await this.#meta.deleteManifest(blob);
    await this.#deleteVersions(retired);
    return manifest;
  }

  /**
   * The manifest of `name` (newest version unless `version` is given).
   * @throws VdcError ZSTOR_OBJECT_NOT_FOUND
   */
  async manifest(name: string, version?: number): Promise<ObjectManifest> {
    return this.#manifestIn(await this.#meta.loadRoot(), name, version);
  }

  async #manifestIn(root: MetadataRoot, name: string, version?: number): Promise<ObjectManifest> {
    const ref = findVersion(root, name, version);
    const manifest = parseManifest(await this.#meta.getManifest(ref.manifest));
    if (manifest.name !== name || manifest.version !== ref.version)
      fail(
        'ZSTOR_METADATA_MALFORMED',
        `the manifest listed for ${JSON.stringify(name)} version ${ref.version} describes another object`,
      );
    return manifest;
  }

  /**
   * The bytes of `name` (or of `range` of them: only the chunks it covers are fetched),
   * streamed; `onDegraded` hears of chunks read around bad shards.
   * @throws VdcError ZSTOR_OBJECT_NOT_FOUND, ZSTOR_SHARDS_MISSING, …
   */
  async *get(
    name: string,
    version?: number,
    onDegraded?: (chunk: number, problems: readonly string[]) => void,
    range?: ByteRange,
  ): AsyncGenerator<Buffer> {
    const manifest = await this.manifest(name, version);
    yield* this.read(manifest, onDegraded, range);
  }

  /** The bytes of a manifest from manifest() (or `range` of them), as get() streams them. */
  async *read(
    manifest: ObjectManifest,
    onDegraded?: (chunk: number, problems: readonly string[]) => void,
    range?: ByteRange,
  ): AsyncGenerator<Buffer> {
    yield* readObject(
      {
        backends: this.#byId,
        dataKey: this.#keys.data,
        nameKey: this.#nameKey,
        onDegraded,
        prefetch: this.#inFlight,
      },
      manifest,
      range,
    );
  }

  /** Every object with its newest version, sorted by name. */
  async list(prefix = ''): Promise<ObjectInfo[]> {
    const root = await this.#meta.loadRoot();
    return Object.entries(root.objects)
      .filter(([name]) => name.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, entry]) => {
        const last = entry.versions[entry.versions.length - 1]!;
        return {
          name,
          version: last.version,
          size: last.size,
          createdAt: last.createdAt,
          versions: entry.versions.length,
        };
      });
  }

  /**
   * Removes `name` and all its versions from the metadata, then deletes their shards (best
   * effort: shards on unreachable backends stay, unreadable and unnamed).
   * @throws VdcError ZSTOR_OBJECT_NOT_FOUND
   */
  async remove(name: string): Promise<void> {
    await this.#locked((lock) => this.#remove(name, lock));
  }

  async #deleteVersions(refs: readonly VersionRef[]): Promise<void> {
    for (const v of refs) {
      let m: ObjectManifest;
      try {
        m = parseManifest(await this.#meta.getManifest(v.manifest));
      } catch {
        continue; // its shards stay, unnamed: gc finds them
      }
      await this.#meta.deleteManifest(v.manifest);
      await deleteShards(m, this.#byId, this.#nameKey);
    }
  }

  async #remove(name: string, lock: HeldLock): Promise<void> {
    const root = await this.#meta.loadRoot();
    const entry = root.objects[name];
    if (entry === undefined)
      fail('ZSTOR_OBJECT_NOT_FOUND', `no object named ${JSON.stringify(name)}: see the list`);
    const manifests: ObjectManifest[] = [];
    for (const v of entry.versions)
      manifests.push(parseManifest(await this.#meta.getManifest(v.manifest)));
    const objects = { ...root.objects };
    delete objects[name];
    await lock.verify();
    await this.#meta.saveRoot({ ...root, objects });
    for (const v of entry.versions) await this.#meta.deleteManifest(v.manifest);
    for (const m of manifests) await deleteShards(m, this.#byId, this.#nameKey);
  }
}
