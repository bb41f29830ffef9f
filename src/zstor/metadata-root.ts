import {
  assertExactKeys,
  assertInteger,
  assertObject,
  assertString,
  fail,
} from '../core/assert.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import { readShardRecord, type ShardRecord } from './object-manifest.ts';

/*
 * The metadata root: every object name with its versions, each pointing at the manifest
 * blob that lists its chunks and shards. Found from the seed alone (metadata-store.ts).
 * Documented in docs/zstor.md, "Metadata".
 */

export const ROOT_FORMAT = 1;

/** Where a dispersed metadata blob is: its id and the backend of each of its shards. */
export interface BlobRef {
  /** 16 random bytes, hex; the blob's shards carry it as their object id. */
  id: string;
  /** Bytes of the sealed blob (what was erasure-coded). */
  sealed: number;
  data: number;
  parity: number;
  shards: ShardRecord[];
}

export interface VersionRef {
  version: number;
  size: number;
  createdAt: number;
  manifest: BlobRef;
}

export interface ObjectEntry {
  objectId: string;
  versions: VersionRef[];
}

export interface MetadataRoot {
  format: number;
  /** Incremented on every save; the newest readable generation wins on load. */
  generation: number;
  objects: Record<string, ObjectEntry>;
}

const CODE = 'ZSTOR_METADATA_MALFORMED';
const HEX16 = /^[0-9a-f]{32}$/;

export function emptyRoot(): MetadataRoot {
  return { format: ROOT_FORMAT, generation: 0, objects: {} };
}

/** @throws VdcError ZSTOR_METADATA_MALFORMED naming the bad field */
export function parseRoot(value: JsonValue): MetadataRoot {
  assertObject(value, 'root', CODE);
  assertExactKeys(value, 'root', ['format', 'generation', 'objects'], [], CODE);
  assertInteger(value['format'], 'root.format', ROOT_FORMAT, ROOT_FORMAT, CODE);
  assertInteger(value['generation'], 'root.generation', 1, Number.MAX_SAFE_INTEGER, CODE);
  const objects = value['objects'];
  assertObject(objects, 'root.objects', CODE);
  const out: Record<string, ObjectEntry> = {};
  for (const [name, entry] of Object.entries(objects)) {
    const l = `root.objects[${JSON.stringify(name)}]`;
    assertObject(entry, l, CODE);
    assertExactKeys(entry, l, ['objectId', 'versions'], [], CODE);
    assertString(entry['objectId'], `${l}.objectId`, { pattern: HEX16 }, CODE);
    const versions = entry['versions'];
    if (!Array.isArray(versions) || versions.length === 0)
      fail(CODE, `${l}.versions must be a non-empty array`);
    out[name] = {
      objectId: entry['objectId'],
      versions: versions.map((v, i) => parseVersion(v, `${l}.versions[${i}]`)),
    };
  }
  return { format: ROOT_FORMAT, generation: value['generation'], objects: out };
}

function parseVersion(value: JsonValue, l: string): VersionRef {
  assertObject(value, l, CODE);
  assertExactKeys(value, l, ['version', 'size', 'createdAt', 'manifest'], [], CODE);
  assertInteger(value['version'], `${l}.version`, 1, Number.MAX_SAFE_INTEGER, CODE);
  assertInteger(value['size'], `${l}.size`, 0, Number.MAX_SAFE_INTEGER, CODE);
  assertInteger(value['createdAt'], `${l}.createdAt`, 0, Number.MAX_SAFE_INTEGER, CODE);
  return {
    version: value['version'],
    size: value['size'],
    createdAt: value['createdAt'],
    manifest: parseBlobRef(value['manifest'], `${l}.manifest`),
  };
}

export function parseBlobRef(value: JsonValue | undefined, l: string): BlobRef {
  assertObject(value, l, CODE);
  assertExactKeys(value, l, ['id', 'sealed', 'data', 'parity', 'shards'], [], CODE);
  assertString(value['id'], `${l}.id`, { pattern: HEX16 }, CODE);
  assertInteger(value['sealed'], `${l}.sealed`, 1, 2 ** 32 - 1, CODE);
  assertInteger(value['data'], `${l}.data`, 1, 64, CODE);
  assertInteger(value['parity'], `${l}.parity`, 0, 32, CODE);
  const shards = value['shards'];
  if (!Array.isArray(shards) || shards.length !== value['data'] + value['parity'])
    fail(CODE, `${l}.shards must hold ${value['data'] + value['parity']} shards`);
  return {
    id: value['id'],
    sealed: value['sealed'],
    data: value['data'],
    parity: value['parity'],
    shards: shards.map((s, i) => readShardRecord(s, `${l}.shards[${i}]`)),
  };
}
