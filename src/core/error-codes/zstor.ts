import type { ErrorKind } from '../error-codes.ts';

/** Codes of src/zstor: erasure coding, the encryption pipeline, metadata, repair and S3. */
export const ZSTOR_CODES = {
  RS_CONFIG_INVALID: 'invalid',
  RS_SHARD_SIZE_MISMATCH: 'invalid',
  RS_TOO_FEW_SHARDS: 'unavailable',
  ZSTOR_CONFIG_INVALID: 'invalid',
  ZSTOR_PLACEMENT_IMPOSSIBLE: 'invalid',
  ZSTOR_SHARD_MALFORMED: 'invalid',
  ZSTOR_SHARD_CORRUPT: 'invalid',
  ZSTOR_SHARDS_MISSING: 'unavailable',
  ZSTOR_CHUNK_UNDECRYPTABLE: 'unauthorized',
  ZSTOR_OBJECT_CORRUPT: 'invalid',
  ZSTOR_BACKEND_UNAVAILABLE: 'unavailable',
  ZSTOR_METADATA_MALFORMED: 'invalid',
  ZSTOR_METADATA_UNDECRYPTABLE: 'unauthorized',
  ZSTOR_METADATA_NOT_FOUND: 'not-found',
  ZSTOR_OBJECT_NOT_FOUND: 'not-found',
} as const satisfies Record<string, ErrorKind>;
