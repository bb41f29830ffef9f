import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { fail } from '../core/assert.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import { asVdcError, VdcError } from '../core/errors.ts';
import { type BlobKind, openMetadata, sealMetadata } from './metadata-codec.ts';
import { maxSealedMetadata } from './metadata-limits.ts';
import { type BlobRef, emptyRoot, type MetadataRoot, parseRoot } from './metadata-root.ts';
import type { ShardRecord } from './object-manifest.ts';
import { placeChunk } from './placement.ts';
import { ReedSolomon } from './reed-solomon.ts';
import { MAX_SHARD_VALUE, type ShardBackend } from './shard-backend.ts';
import { type DecodedShard, decodeShard, encodeShard } from './shard-format.ts';
import { rootKey, shardKey } from './zstor-keys.ts';

/*
 * Metadata dispersed over the same backends, through the same Reed-Solomon path as data.
 * Manifests are blobs at HMAC-named keys listed in the root. The root itself must be found
 * with nothing but the seed and the backend list, so it sits under one key derived from the
 * meta root, the same on every backend (at most one root shard per backend), in two slots
 * used alternately: generation g goes to slot g mod 2, so a failed save leaves generation
 * g-1 whole. Loading reads both slots on every backend and takes the newest generation that
 * has `data` consistent shards and decrypts.
 */

/** Combinations of root shards tried per load at most (C(6,4) = 15; C(20,16) = 4845). */
const MAX_ROOT_TRIES = 256;

/** Every choice of `k` shards with distinct indices, in order. */
function* combinations(
  shards: DecodedShard[],
  k: number,
  from = 0,
  taken: DecodedShard[] = [],
): Generator<DecodedShard[]> {
  if (taken.length === k) {
    yield taken;
    return;
  }
  for (let i = from; i < shards.length; i++) {
    const s = shards[i]!;
    if (s.index >= s.data + s.parity || taken.some((t) => t.index === s.index)) continue;
    yield* combinations(shards, k, i + 1, [...taken, s]);
  }
}

export interface MetadataTarget {
  readonly backends: readonly ShardBackend[];
  readonly rs: ReedSolomon;
  readonly distinctFarms: boolean;
  readonly minShards: number;
  /** The meta root (vdc/zstor-meta/0). */
  readonly metaKey: Buffer;
  readonly nameKey: Buffer;
}

/** The 16-byte id root shards carry: keyed, so roots of different users do not look alike. */
function rootId(nameKey: Buffer): Buffer {
  return createHmac('sha256', nameKey).update('vdc/zstor/root-id/v1').digest().subarray(0, 16);
}

export class MetadataStore {
  readonly #t: MetadataTarget;
  readonly #byId: Map<string, ShardBackend>;

  constructor(target: MetadataTarget) {
    this.#t = target;
    this.#byId = new Map(target.backends.map((b) => [b.id, b]));
  }

  /**
   * Seals and disperses one manifest; returns where it went.
   * @throws VdcError ZSTOR_BACKEND_UNAVAILABLE when fewer than minShards were stored
   */
  async putManifest(value: JsonValue): Promise<BlobRef> {
    const id = randomBytes(16);
    const sealed = this.#seal('manifest', value);
    const placed = placeChunk(this.#t.backends, this.#rules(), randomInt(this.#t.backends.length));
    const keys = placed.map((_, i) => shardKey(this.#t.nameKey, id, 1, 0, i));
    const shards = await this.#disperse(id, 1, sealed, placed, keys, 'manifest');
    const { rs } = this.#t;
    return {
      id: id.toString('hex'),
      sealed: sealed.length,
      data: rs.data,
      parity: rs.parity,
      shards,
    };
  }

  /**
   * Fetches, rebuilds and decrypts one manifest.
   * @throws VdcError ZSTOR_SHARDS_MISSING when fewer than `data` good shards remain
   */
  async getManifest(ref: BlobRef): Promise<JsonValue> {
    const id = Buffer.from(ref.id, 'hex');
    const rs = new ReedSolomon(ref.data, ref.parity);
    const slots: (Uint8Array | undefined)[] = new Array(rs.total).fill(undefined);
    const problems: string[] = [];
    const fetchShard = async (rec: ShardRecord, i: number): Promise<Uint8Array | string> => {
      const backend = rec.backend === null ? undefined : this.#byId.get(rec.backend);
      if (backend === undefined) return `shard ${i}: no backend ${rec.backend}`;
      const where = `shard ${i} on ${backend.id} (node ${backend.node})`;
      try {
        const value = await backend.get(shardKey(this.#t.nameKey, id, 1, 0, i));
        if (value === undefined) return `${where} is missing`;
        const shard = decodeShard(value, where);
        return shard.hash.toString('hex') === rec.hash
          ? shard.payload
          : `${where} is not the recorded one`;
      } catch (err) {
        return asVdcError(err).message;
      }
    };
    const results = await Promise.all(ref.shards.map(fetchShard));
    for (const [i, r] of results.entries())
      if (typeof r === 'string') problems.push(r);
      else slots[i] = r;
    const good = slots.filter((s) => s !== undefined).length;
    if (good < rs.data)
      fail(
        'ZSTOR_SHARDS_MISSING',
        `manifest ${ref.id} has ${good} good shards, ${rs.data} needed: ${problems.sort().join('; ')}`,
      );
    rs.reconstruct(slots, true);
    return openMetadata(this.#t.metaKey, 'manifest', rs.join(slots as Uint8Array[], ref.sealed));
  }

  /** Removes a manifest's shards, best effort (unreachable backends keep unreadable garbage). */
  async deleteManifest(ref: BlobRef): Promise<void> {
    const id = Buffer.from(ref.id, 'hex');
    await Promise.all(
      ref.shards.map((rec, i) =>
        rec.backend === null
          ? undefined
          : this.#byId
              .get(rec.backend)
              ?.delete(shardKey(this.#t.nameKey, id, 1, 0, i))
              .catch(() => false),
      ),
    );
  }

  /**
   * The newest readable root, or an empty root (generation 0) when no backend holds one.
   * @throws VdcError ZSTOR_METADATA_NOT_FOUND when root shards exist but no generation can be rebuilt
   */
  async loadRoot(): Promise<MetadataRoot> {
    const id = rootId(this.#t.nameKey);
    const found: DecodedShard[] = [];
    const problems: string[] = [];
    await Promise.all(
      this.#t.backends.flatMap((backend) =>
        ([0, 1] as const).map(async (slot) => {
          try {
            const value = await backend.get(rootKey(this.#t.nameKey, slot));
            if (value === undefined) return;
            const shard = decodeShard(value, `root slot ${slot} on ${backend.id}`);
            if (shard.objectId.equals(id) && shard.chunk === 0) found.push(shard);
          } catch (err) {
            problems.push(asVdcError(err).message);
          }
        }),
      ),
    );
    if (found.length === 0) {
      if (problems.length > 0 && problems.length === this.#t.backends.length * 2)
        fail(
          'ZSTOR_BACKEND_UNAVAILABLE',
          `no backend answered for the metadata root: ${problems.join('; ')}`,
        );
      return emptyRoot();
    }
    const generations = [...new Set(found.map((s) => s.version))].sort((a, b) => b - a);
    for (const generation of generations) {
      const root = this.#rebuildRoot(
        found.filter((s) => s.version === generation),
        problems,
      );
      if (root !== undefined) return root;
    }
    fail(
      'ZSTOR_METADATA_NOT_FOUND',
      `root shards of generations ${generations.join(', ')} were found but none can be rebuilt: ${problems.join('; ')}`,
    );
  }

  /**
   * Rebuilds one generation of the root. Unlike data and manifests, root shards have no
   * recorded hash to check them against (they are what everything else is found from), so a
   * backend may serve a well-formed shard with a wrong payload or wrong parameters. Shards
   * are therefore grouped by their coding parameters and combinations of `data` of them
   * (distinct indices) are tried until one decrypts: up to `parity` bad shards still leave
   * a good combination, and GCM tells good from bad.
   */
  #rebuildRoot(shards: DecodedShard[], problems: string[]): MetadataRoot | undefined {
    const generation = shards[0]!.version;
    const groups = new Map<string, DecodedShard[]>();
    for (const s of shards) {
      const key = `${s.data}/${s.parity}/${s.sealedLength}`;
      groups.set(key, [...(groups.get(key) ?? []), s]);
    }
    let tries = 0;
    for (const group of groups.values()) {
      const { data, parity, sealedLength } = group[0]!;
      if (data < 1 || data > 64 || parity > 32) continue;
      const rs = new ReedSolomon(data, parity);
      for (const pick of combinations(group, data)) {
        if (++tries > MAX_ROOT_TRIES) break;
        const slots: (Uint8Array | undefined)[] = new Array(rs.total).fill(undefined);
        for (const s of pick) slots[s.index] = s.payload;
        try {
          rs.reconstruct(slots, true);
          const root = parseRoot(
            openMetadata(this.#t.metaKey, 'root', rs.join(slots as Uint8Array[], sealedLength)),
          );
          if (root.generation === generation) return root;
          problems.push(
            `root generation ${generation}: its content says generation ${root.generation}`,
          );
        } catch (err) {
          if (!(err instanceof VdcError)) throw err;
          if (tries === 1) problems.push(`root generation ${generation}: ${err.message}`);
        }
      }
    }
    problems.push(
      `root generation ${generation}: no ${shards.length > 0 ? 'combination of its shards' : 'shard'} decrypts`,
    );
    return undefined;
  }

  /**
   * Saves `root` as generation root.generation + 1 (returned) in the slot not holding the
   * current generation.
   * @throws VdcError ZSTOR_BACKEND_UNAVAILABLE when fewer than minShards were stored
   */
  async saveRoot(root: MetadataRoot): Promise<MetadataRoot> {
    const next: MetadataRoot = { ...root, generation: root.generation + 1 };
    const sealed = this.#seal('root', next as unknown as JsonValue);
    const placed = placeChunk(this.#t.backends, this.#rules(), next.generation);
    const key = rootKey(this.#t.nameKey, (next.generation % 2) as 0 | 1);
    await this.#disperse(
      rootId(this.#t.nameKey),
      next.generation,
      sealed,
      placed,
      placed.map(() => key),
      'root',
    );
    return next;
  }

  /**
   * Seals a blob, refusing (before a shard is written) one whose shards would not fit a
   * zdb value: the backends would refuse them, and late (metadata-limits.ts).
   */
  #seal(kind: BlobKind, value: JsonValue): Buffer {
    const sealed = sealMetadata(this.#t.metaKey, kind, value);
    const max = maxSealedMetadata(this.#t.rs.data);
    if (sealed.length > max)
      fail(
        'ZSTOR_METADATA_TOO_LARGE',
        `${kind} metadata is ${sealed.length} bytes sealed, over the ${max} that ${this.#t.rs.data} shards of at most ${MAX_SHARD_VALUE} bytes carry: ${kind === 'root' ? 'remove objects or old versions' : 'split the object, or use larger chunks'}`,
      );
    return sealed;
  }

  #rules() {
    return { total: this.#t.rs.total, distinctFarms: this.#t.distinctFarms };
  }

  async #disperse(
    id: Buffer,
    version: number,
    sealed: Buffer,
    placed: readonly ShardBackend[],
    keys: readonly Buffer[],
    kind: BlobKind,
  ): Promise<ShardRecord[]> {
    const { rs } = this.#t;
    const data = rs.split(sealed);
    const shards = [...data, ...rs.encode(data)].map((payload, index) =>
      encodeShard(
        {
          flags: 0,
          objectId: id,
          version,
          chunk: 0,
          index,
          data: rs.data,
          parity: rs.parity,
          sealedLength: sealed.length,
        },
        payload,
      ),
    );
    const records: ShardRecord[] = shards.map((s) => ({
      backend: null,
      hash: s.hash.toString('hex'),
    }));
    const errors: string[] = [];
    await Promise.all(
      placed.map(async (backend, i) => {
        try {
          await backend.put(keys[i]!, [shards[i]!.header, shards[i]!.payload]);
          records[i]!.backend = backend.id;
        } catch (err) {
          errors.push(`${backend.id}: ${asVdcError(err).message}`);
        }
      }),
    );
    const stored = records.filter((r) => r.backend !== null).length;
    if (stored < this.#t.minShards)
      fail(
        'ZSTOR_BACKEND_UNAVAILABLE',
        `${kind} metadata: ${stored} of ${rs.total} shards stored, ${this.#t.minShards} required (${errors.join('; ')})`,
      );
    return records;
  }
}
