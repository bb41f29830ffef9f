import { createHash } from 'node:crypto';
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
 *
 * Two formats. Format 1 (what put writes): every chunk was sealed by this version's own
 * write, so its key and nonce come from the manifest's objectId, version, versionSalt and
 * the chunk's position. Format 2 (what splice writes, e.g. a completed S3 multipart upload):
 * the chunks were sealed by other writes (the parts) and are only referenced, never copied;
 * each chunk names its source (an entry of `sources`: object id, version, version salt,
 * coding) and its chunk index there, which is what its key, nonce, shard keys and shard
 * headers derive from. chunkOrigins() gives every chunk's origin for either format.
 */

/** The format put writes. */
export const MANIFEST_FORMAT = 1;
/** The format splice writes: chunks referenced from other writes. */
export const SPLICED_MANIFEST_FORMAT = 2;

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

/** A chunk of a format-2 manifest: sealed by the write `sources[source]`, as its chunk `chunk`. */
export interface SplicedChunkRecord extends ChunkRecord {
  source: number;
  chunk: number;
}

/** One write whose chunks a format-2 manifest references (a whole format-1 version). */
export interface ChunkSource {
  objectId: string;
  version: number;
  versionSalt: string;
  /** Plaintext bytes of that write, and their SHA-256 (hex). */
  size: number;
  sha256: string;
  data: number;
  parity: number;
}

interface ManifestCommon {
  name: string;
  /** 16 random bytes, hex: never derived from the name. */
  objectId: string;
  version: number;
  size: number;
  /**
   * Format 1: SHA-256 of the whole plaintext, hex. Format 2: "HEX-N", the SHA-256 of the N
   * sources' SHA-256 digests concatenated (as S3's composite checksums): true without
   * reading the data, and checked against `sources` when parsed.
   */
  sha256: string;
  createdAt: number;
  chunkSize: number;
}

export interface PlainManifest extends ManifestCommon {
  format: 1;
  /** 16 random bytes, hex, mixed into the version key. */
  versionSalt: string;
  data: number;
  parity: number;
  chunks: ChunkRecord[];
}

export interface SplicedManifest extends ManifestCommon {
  format: 2;
  sources: ChunkSource[];
  chunks: SplicedChunkRecord[];
}

export type ObjectManifest = PlainManifest | SplicedManifest;

/** Where one chunk was sealed: what its key, nonce, shard keys and shard headers derive from. */
export interface ChunkOrigin {
  readonly objectId: Buffer;
  readonly version: number;
  readonly versionSalt: Buffer;
  /** The chunk's index in the write that sealed it (its nonce), not its position here. */
  readonly chunk: number;
  readonly data: number;
  readonly parity: number;
}

/** The origin of every chunk of a manifest, in order. */
export function chunkOrigins(m: ObjectManifest): ChunkOrigin[] {
  if (m.format === MANIFEST_FORMAT) {
    const base = {
      objectId: Buffer.from(m.objectId, 'hex'),
      version: m.version,
      versionSalt: Buffer.from(m.versionSalt, 'hex'),
      data: m.data,
      parity: m.parity,
    };
    return m.chunks.map((_, chunk) => ({ ...base, chunk }));
  }
  const sources = m.sources.map((s) => ({
    objectId: Buffer.from(s.objectId, 'hex'),
    version: s.version,
    versionSalt: Buffer.from(s.versionSalt, 'hex'),
    data: s.data,
    parity: s.parity,
  }));
  return m.chunks.map((c) => ({ ...sources[c.source]!, chunk: c.chunk }));
}

/** "HEX-N": SHA-256 over the N sources' SHA-256 digests, in order. */
export function compositeSha256(sources: readonly { sha256: string }[]): string {
  const h = createHash('sha256');
  for (const s of sources) h.update(Buffer.from(s.sha256, 'hex'));
  return `${h.digest('hex')}-${sources.length}`;
}

const HEX16 = /^[0-9a-f]{32}$/;
const HEX32 = /^[0-9a-f]{64}$/;
const CODE = 'ZSTOR_METADATA_MALFORMED';
const COMMON_KEYS = ['format', 'name', 'objectId', 'version', 'size', 'sha256', 'createdAt'];

/**
 * Checks that a parsed value is a manifest (format 1 or 2), field by field.
 * @throws VdcError ZSTOR_METADATA_MALFORMED naming the bad field
 */
export function parseManifest(value: JsonValue): ObjectManifest {
  assertObject(value, 'manifest', CODE);
  const format = value['format'];
  const keys =
    format === SPLICED_MANIFEST_FORMAT
      ? [...COMMON_KEYS, 'chunkSize', 'sources', 'chunks']
      : [...COMMON_KEYS, 'versionSalt', 'data', 'parity', 'chunkSize', 'chunks'];
  assertInteger(format, 'manifest.format', MANIFEST_FORMAT, SPLICED_MANIFEST_FORMAT, CODE);
  assertExactKeys(value, 'manifest', keys, [], CODE);
  assertString(value['name'], 'manifest.name', { min: 1, max: 1024 }, CODE);
  assertString(value['objectId'], 'manifest.objectId', { pattern: HEX16 }, CODE);
  assertInteger(value['version'], 'manifest.version', 1, Number.MAX_SAFE_INTEGER, CODE);
  assertInteger(value['size'], 'manifest.size', 0, Number.MAX_SAFE_INTEGER, CODE);
  assertInteger(value['createdAt'], 'manifest.createdAt', 0, Number.MAX_SAFE_INTEGER, CODE);
  assertInteger(value['chunkSize'], 'manifest.chunkSize', 1, 2 ** 31, CODE);
  const chunks = value['chunks'];
  if (!Array.isArray(chunks)) return fieldError('manifest.chunks must be an array');
  const parsed =
    format === SPLICED_MANIFEST_FORMAT ? parseSpliced(value, chunks) : parsePlain(value, chunks);
  const sum = parsed.chunks.reduce((a, c) => a + c.size, 0);
  if (sum !== value['size'])
    fieldError(`manifest chunks hold ${sum} bytes but manifest.size is ${value['size']}`);
  return parsed;
}

function parsePlain(value: { [k: string]: JsonValue }, chunks: JsonValue[]): PlainManifest {
  assertString(value['sha256'], 'manifest.sha256', { pattern: HEX32 }, CODE);
  assertString(value['versionSalt'], 'manifest.versionSalt', { pattern: HEX16 }, CODE);
  assertInteger(value['data'], 'manifest.data', 1, 64, CODE);
  assertInteger(value['parity'], 'manifest.parity', 0, 32, CODE);
  const total = value['data'] + value['parity'];
  return {
    ...(value as unknown as PlainManifest),
    chunks: chunks.map((c, i) => parseChunk(c, `manifest.chunks[${i}]`, total, [])),
  };
}

/*
 * A format-2 manifest must describe whole sources, each once, in order: the chunks of
 * source 0 (its chunks 0..k-1), then those of source 1, and so on, each source's chunk
 * sizes summing to its size. So every source's SHA-256 describes a known byte extent of
 * the object, the composite sha256 can be checked here, and no chunk is listed twice.
 */
function parseSpliced(value: { [k: string]: JsonValue }, chunks: JsonValue[]): SplicedManifest {
  const list = value['sources'];
  if (!Array.isArray(list) || list.length === 0)
    return fieldError('manifest.sources must be a non-empty array');
  const sources = list.map((s, i) => parseSource(s, `manifest.sources[${i}]`));
  const seen = new Set(sources.map((s) => `${s.objectId}/${s.version}`));
  if (seen.size !== sources.length) fieldError('manifest.sources lists one write twice');
  assertString(value['sha256'], 'manifest.sha256', { pattern: /^[0-9a-f]{64}-[1-9][0-9]*$/ }, CODE);
  if (value['sha256'] !== compositeSha256(sources))
    fieldError("manifest.sha256 is not the composite of its sources' SHA-256");
  const parsed = chunks.map((c, i) => {
    const label = `manifest.chunks[${i}]`;
    assertObject(c, label, CODE);
    assertInteger(c['source'], `${label}.source`, 0, sources.length - 1, CODE);
    const s = sources[c['source']]!;
    return parseChunk(c, label, s.data + s.parity, ['source', 'chunk']) as SplicedChunkRecord;
  });
  let at = 0;
  for (const [n, s] of sources.entries()) {
    let bytes = 0;
    for (let k = 0; at < parsed.length && parsed[at]!.source === n; k++, at++) {
      if (parsed[at]!.chunk !== k)
        fieldError(`manifest.chunks[${at}] must be chunk ${k} of source ${n}`);
      bytes += parsed[at]!.size;
    }
    if (bytes !== s.size)
      fieldError(`the chunks of manifest.sources[${n}] hold ${bytes} bytes, not its ${s.size}`);
  }
  if (at !== parsed.length)
    fieldError(`manifest.chunks[${at}] is out of order: sources must follow one another`);
  return { ...(value as unknown as SplicedManifest), sources, chunks: parsed };
}

function parseSource(value: JsonValue | undefined, label: string): ChunkSource {
  assertObject(value, label, CODE);
  assertExactKeys(
    value,
    label,
    ['objectId', 'version', 'versionSalt', 'size', 'sha256', 'data', 'parity'],
    [],
    CODE,
  );
  assertString(value['objectId'], `${label}.objectId`, { pattern: HEX16 }, CODE);
  assertInteger(value['version'], `${label}.version`, 1, Number.MAX_SAFE_INTEGER, CODE);
  assertString(value['versionSalt'], `${label}.versionSalt`, { pattern: HEX16 }, CODE);
  assertInteger(value['size'], `${label}.size`, 0, Number.MAX_SAFE_INTEGER, CODE);
  assertString(value['sha256'], `${label}.sha256`, { pattern: HEX32 }, CODE);
  assertInteger(value['data'], `${label}.data`, 1, 64, CODE);
  assertInteger(value['parity'], `${label}.parity`, 0, 32, CODE);
  return value as unknown as ChunkSource;
}

function parseChunk(
  value: JsonValue | undefined,
  label: string,
  total: number,
  extra: string[],
): ChunkRecord {
  assertObject(value, label, CODE);
  assertExactKeys(value, label, ['size', 'sealed', 'flags', 'shards', ...extra], [], CODE);
  assertInteger(value['size'], `${label}.size`, 0, 2 ** 31, CODE);
  assertInteger(value['sealed'], `${label}.sealed`, 16, 2 ** 32 - 1, CODE);
  assertInteger(value['flags'], `${label}.flags`, 0, 1, CODE);
  if (extra.includes('chunk'))
    assertInteger(value['chunk'], `${label}.chunk`, 0, Number.MAX_SAFE_INTEGER, CODE);
  const shards = value['shards'];
  if (!Array.isArray(shards) || shards.length !== total)
    fieldError(`${label}.shards must be an array of ${total} shards`);
  const record: ChunkRecord = {
    size: value['size'],
    sealed: value['sealed'],
    flags: value['flags'],
    shards: shards.map((s, i) => readShardRecord(s, `${label}.shards[${i}]`)),
  };
  return extra.length === 0
    ? record
    : ({ ...record, source: value['source'], chunk: value['chunk'] } as SplicedChunkRecord);
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
