import { randomBytes } from 'node:crypto';
import { assertInteger, assertString, fail } from '../core/assert.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { keepFreedMemory } from '../zdb/index.ts';
import type { MetadataRoot, VersionRef } from './metadata-root.ts';
import { MetadataStore } from './metadata-store.ts';
import { type ObjectManifest, parseManifest } from './object-manifest.ts';
import { type ByteRange, readObject } from './object-reader.ts';
import { writeObject } from './object-writer.ts';
import { checkPlacement } from './placement.ts';
import { ReedSolomon } from './reed-solomon.ts';
import { MAX_SHARD_VALUE, type ShardBackend } from './shard-backend.ts';
import { SHARD_HEADER_BYTES } from './shard-format.ts';
import { type HeldLock, WriterLock, type WriterLockOptions } from './writer-lock.ts';
import { shardKey, shardNameKey, type ZstorKeys } from './zstor-keys.ts';

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
    const entry = root.objects[name];
    const objectId = entry === undefined ? randomBytes(16) : Buffer.from(entry.objectId, 'hex');
    const version = entry === undefined ? 1 : Math.max(...entry.versions.map((v) => v.version)) + 1;
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
    const all: VersionRef[] = [
      ...(entry?.versions ?? []),
      { version, size: manifest.size, createdAt: manifest.createdAt, manifest: ref },
    ];
    const versions = keep === undefined ? all : all.slice(-keep);
    const pruned = all.slice(0, all.length - versions.length);
    await lock.verify();
    await this.#meta.saveRoot({
      ...root,
      objects: { ...root.objects, [name]: { objectId: objectId.toString('hex'), versions } },
    });
    // Pruned versions go after the root no longer names them (best effort: what a down
    // backend keeps is an orphan for gc).
    await this.#deleteVersions(pruned);
    return manifest;
  }

  /**
   * The manifest of `name` (newest version unless `version` is given).
   * @throws VdcError ZSTOR_OBJECT_NOT_FOUND
   */
  async manifest(name: string, version?: number): Promise<ObjectManifest> {
    const root = await this.#meta.loadRoot();
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

function findVersion(root: MetadataRoot, name: string, version?: number): VersionRef {
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

async function deleteShards(
  m: ObjectManifest,
  byId: ReadonlyMap<string, ShardBackend>,
  nameKey: Buffer,
): Promise<void> {
  const objectId = Buffer.from(m.objectId, 'hex');
  for (const [c, chunk] of m.chunks.entries())
    await Promise.all(
      chunk.shards.map((s, i) =>
        s.backend === null
          ? undefined
          : byId
              .get(s.backend)
              ?.delete(shardKey(nameKey, objectId, m.version, c, i))
              .catch(() => false),
      ),
    );
}
