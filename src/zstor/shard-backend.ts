/*
 * Where shards live: a key-value store reached over the network (a zdb namespace in
 * production, fake-shard-backend.ts in unit tests). Keys are 32 opaque bytes (shard-key
 * HMACs); values are one shard, at most MAX_SHARD_VALUE bytes.
 */

/** zdb's value limit is 8 MiB; a shard (header and payload) must fit. */
export const MAX_SHARD_VALUE = 8 * 1024 * 1024;

export interface ShardBackend {
  /** Stable id recorded in the metadata (e.g. "HOST:PORT/NAMESPACE"); unique in a config. */
  readonly id: string;
  /** The node it runs on: two shards of one chunk never share a node. */
  readonly node: string;
  /** The farm of that node, when known: with `distinctFarms`, no two shards share a farm. */
  readonly farm?: string | undefined;
  /**
   * Stores the concatenation of `parts` under `key`, replacing any value. Resolves once the
   * backend acknowledged it; does not keep a reference to `parts` after resolving.
   * @throws VdcError ZSTOR_BACKEND_UNAVAILABLE when the backend cannot be reached
   */
  put(key: Uint8Array, parts: readonly Uint8Array[]): Promise<void>;
  /** The value under `key`, or undefined when there is none. @throws VdcError ZSTOR_BACKEND_UNAVAILABLE */
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /**
   * The value under `key` as pieces whose concatenation it is, or undefined when there is
   * none. Optional: a backend that receives values in pieces (zdb) hands them over without
   * joining them, and the object reader then hashes and decrypts them piece by piece.
   * @throws VdcError ZSTOR_BACKEND_UNAVAILABLE
   */
  getParts?(key: Uint8Array): Promise<readonly Uint8Array[] | undefined>;
  /** Removes `key`; true when it existed. @throws VdcError ZSTOR_BACKEND_UNAVAILABLE */
  delete(key: Uint8Array): Promise<boolean>;
  /** @throws VdcError ZSTOR_BACKEND_UNAVAILABLE */
  exists(key: Uint8Array): Promise<boolean>;
  /**
   * Every key the backend holds (zdb SCAN), for garbage collection; absent where a backend
   * cannot list, and gc then skips it.
   * @throws VdcError ZSTOR_BACKEND_UNAVAILABLE
   */
  keys?(): AsyncIterable<Uint8Array>;
}
