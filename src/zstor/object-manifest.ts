import {
  assertExactKeys,
  assertInteger,
  assertObject,
  assertString,
  fail,
} from '../core/assert.ts';
import type { JsonValue } from '../core/canonical-json.ts';

/*
 * What the metadata knows of one version of one object: enough to find, check and decrypt
 * every shard. Serialised as RFC 8785 canonical JSON (metadata-codec.ts), so one manifest
 * has one byte form. Layout documented in docs/zstor.md, "Metadata".
 */

export const MANIFEST_FORMAT = 1;

export interface ShardRecord {
  /** Id of the backend holding it, or null when its write failed (repair fills it in). */
  backend: string | null;
  /** SHA-256 of the stored shard (header fields and payload), hex. */
  hash: string;
}

export interface ChunkRecord {
  /** Plaintext bytes in this chunk. */
  size: number;
  /** Sealed (compressed, encrypted, tagged) bytes that were erasure-coded. */
  sealed: number;
  /** Shard header flags (bit 0: zstd). */
  flags: number;
  shards: ShardRecord[];
}

export interface ObjectManifest {
  format: number;
  name: string;
  /** 16 random bytes, hex: never derived from the name. */
  objectId: string;
  version: number;
  /** 16 random bytes, hex, mixed into the version key. */
  versionSalt: string;
  size: number;
  /** SHA-256 of the whole plaintext, hex. */
  sha256: string;
  createdAt: number;
  data: number;
  parity: number;
  chunkSize: number;
  chunks: ChunkRecord[];
}

const HEX16 = /^[0-9a-f]{32}$/;
const HEX32 = /^[0-9a-f]{64}$/;
const CODE = 'ZSTOR_METADATA_MALFORMED';

/**
 * Checks that a parsed value is a manifest, field by field.
 * @throws VdcError ZSTOR_METADATA_MALFORMED naming the bad field
 */
export function parseManifest(value: JsonValue): ObjectManifest {
  assertObject(value, 'manifest', CODE);
  assertExactKeys(
    value,
    'manifest',
    [
      'format',
      'name',
      'objectId',
      'version',
      'versionSalt',
      'size',
      'sha256',
      'createdAt',
      'data',
      'parity',
      'chunkSize',
      'chunks',
    ],
    [],
    CODE,
  );
  assertInteger(value['format'], 'manifest.format', MANIFEST_FORMAT, MANIFEST_FORMAT, CODE);
  assertString(value['name'], 'manifest.name', { min: 1, max: 1024 }, CODE);
  assertString(value['objectId'], 'manifest.objectId', { pattern: HEX16 }, CODE);
  assertInteger(value['version'], 'manifest.version', 1, Number.MAX_SAFE_INTEGER, CODE);
  assertString(value['versionSalt'], 'manifest.versionSalt', { pattern: HEX16 }, CODE);
  assertInteger(value['size'], 'manifest.size', 0, Number.MAX_SAFE_INTEGER, CODE);
  assertString(value['sha256'], 'manifest.sha256', { pattern: HEX32 }, CODE);
  assertInteger(value['createdAt'], 'manifest.createdAt', 0, Number.MAX_SAFE_INTEGER, CODE);
  assertInteger(value['data'], 'manifest.data', 1, 64, CODE);
  assertInteger(value['parity'], 'manifest.parity', 0, 32, CODE);
  assertInteger(value['chunkSize'], 'manifest.chunkSize', 1, 2 ** 31, CODE);
  const chunks = value['chunks'];
  if (!Array.isArray(chunks)) return fieldError('manifest.chunks must be an array');
  const total = value['data'] + value['parity'];
  const parsed = chunks.map((c, i) => parseChunk(c, `manifest.chunks[${i}]`, total));
  const sum = parsed.reduce((a, c) => a + c.size, 0);
  if (sum !== value['size'])
    fieldError(`manifest chunks hold ${sum} bytes but manifest.size is ${value['size']}`);
  return { ...(value as unknown as ObjectManifest), chunks: parsed };
}

function parseChunk(value: JsonValue | undefined, label: string, total: number): ChunkRecord {
  assertObject(value, label, CODE);
  assertExactKeys(value, label, ['size', 'sealed', 'flags', 'shards'], [], CODE);
  assertInteger(value['size'], `${label}.size`, 0, 2 ** 31, CODE);
  assertInteger(value['sealed'], `${label}.sealed`, 16, 2 ** 32 - 1, CODE);
  assertInteger(value['flags'], `${label}.flags`, 0, 1, CODE);
  const shards = value['shards'];
  if (!Array.isArray(shards) || shards.length !== total)
    fieldError(`${label}.shards must be an array of ${total} shards`);
  return {
    size: value['size'],
    sealed: value['sealed'],
    flags: value['flags'],
    shards: shards.map((s, i) => readShardRecord(s, `${label}.shards[${i}]`)),
  };
}

/** One shard of a chunk or blob: where it went (null when it could not be stored) and its hash. */
export function readShardRecord(value: unknown, label: string): ShardRecord {
  assertObject(value, label, CODE);
  assertExactKeys(value, label, ['backend', 'hash'], [], CODE);
  if (value['backend'] !== null)
    assertString(value['backend'], `${label}.backend`, { min: 1, max: 512 }, CODE);
  assertString(value['hash'], `${label}.hash`, { pattern: HEX32 }, CODE);
  return { backend: value['backend'] as string | null, hash: value['hash'] };
}

function fieldError(message: string): never {
  fail(CODE, `${message}: the metadata is damaged or not zstor's`);
}
