/*
 * zstor's public surface: the erasure code, the object store over shard backends, and the
 * backend interface the zdb-backed backend implements. Everything else is private.
 */

export {
  type CheckReport,
  checkStore,
  type MaintenanceTarget,
  type ShardFinding,
  type ShardProblem,
} from './check.ts';
export { FakeShardBackend } from './fake-shard-backend.ts';
export { collectGarbage, type GcReport } from './garbage-collect.ts';
export type { BlobRef, MetadataRoot, ObjectEntry, VersionRef } from './metadata-root.ts';
export {
  type ChunkOrigin,
  type ChunkRecord,
  type ChunkSource,
  chunkOrigins,
  compositeSha256,
  type ObjectManifest,
  type PlainManifest,
  type ShardRecord,
  type SplicedChunkRecord,
  type SplicedManifest,
} from './object-manifest.ts';
export type { ByteRange } from './object-reader.ts';
export { checkPlacement, type PlacementRules, placeChunk } from './placement.ts';
export { fastestKernel, MAX_DATA_SHARDS, MAX_PARITY_SHARDS, ReedSolomon } from './reed-solomon.ts';
export { isHealthy, type RepairReport, repairStore } from './repair.ts';
export { MAX_SHARD_VALUE, type ShardBackend } from './shard-backend.ts';
export { decodeShard, SHARD_HEADER_BYTES } from './shard-format.ts';
export { loadStoreConfig, parseStoreConfig, type StoreConfig } from './store-config.ts';
export { DEFAULT_MAINTENANCE_IN_FLIGHT, MAX_MAINTENANCE_IN_FLIGHT } from './task-window.ts';
export { type ZdbBackendOptions, ZdbShardBackend } from './zdb-backend.ts';
export { type ZstorKeys, zstorKeysFromSeed } from './zstor-keys.ts';
export {
  DEFAULT_CHUNK_SIZE,
  type ObjectInfo,
  type PutOptions,
  type SpliceOptions,
  type ZstorOptions,
  ZstorStore,
} from './zstor-store.ts';
