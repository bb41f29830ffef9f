import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import {
  assertExactKeys,
  assertInteger,
  assertObject,
  assertString,
  fail,
} from '../core/assert.ts';
import { VdcError } from '../core/errors.ts';
import { MAX_MAINTENANCE_IN_FLIGHT } from './task-window.ts';
import { parseAddress, type ZdbBackendOptions } from './zdb-backend.ts';
import { DEFAULT_CHUNK_SIZE, type ZstorOptions } from './zstor-store.ts';

/*
 * The store's configuration file (YAML, docs/zstor.md "Configuration"): coding
 * parameters and the zdb namespaces to disperse over, with their passwords — which is why
 * the file must be readable by its owner only (mode 0600 or stricter): it is refused
 * otherwise, before a byte of it is read. Every field is checked and named when wrong;
 * unknown fields are refused (a typo like `partiy` must not silently mean "default").
 */

export interface StoreConfig {
  readonly options: ZstorOptions;
  readonly backends: readonly ZdbBackendOptions[];
}

const C = 'ZSTOR_CONFIG_INVALID';
const MAX_CONFIG_BYTES = 1024 * 1024;
const LABEL = /^[\x21-\x7e]+$/;

/**
 * Reads and checks the config file at `path`.
 * @throws VdcError FILE_NOT_FOUND; ZSTOR_CONFIG_INSECURE when group or others can access it;
 *   ZSTOR_CONFIG_INVALID naming the bad field
 */
export function loadStoreConfig(path: string): StoreConfig {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT')
      fail('FILE_NOT_FOUND', `the store config ${path} does not exist`, cause);
    fail('FILE_UNREADABLE', `cannot open the store config ${path}: ${(cause as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) fail('FILE_UNREADABLE', `the store config ${path} is not a regular file`);
    if ((st.mode & 0o077) !== 0)
      fail(
        'ZSTOR_CONFIG_INSECURE',
        `the store config ${path} holds backend passwords but has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}: run chmod 600 ${path}`,
      );
    if (st.size > MAX_CONFIG_BYTES)
      fail(C, `the store config ${path} is ${st.size} bytes; at most ${MAX_CONFIG_BYTES}`);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return parseStoreConfig(buf.subarray(0, got).toString('utf8'), path);
  } finally {
    closeSync(fd);
  }
}

/** Parses and checks config text. @throws VdcError ZSTOR_CONFIG_INVALID naming the bad field */
export function parseStoreConfig(text: string, source = 'config'): StoreConfig {
  let doc: unknown;
  try {
    // YAML 1.2 core schema: "yes" stays a string, keys must be unique.
    doc = parseYaml(text, { version: '1.2', uniqueKeys: true, maxAliasCount: 0 });
  } catch (cause) {
    fail(C, `${source} is not valid YAML: ${(cause as Error).message.split('\n')[0]}`, cause);
  }
  try {
    return checkConfig(doc);
  } catch (err) {
    if (err instanceof VdcError && err.code === C) fail(C, `${source}: ${err.message}`, err);
    throw err;
  }
}

function checkConfig(doc: unknown): StoreConfig {
  assertObject(doc, 'config', C);
  assertExactKeys(
    doc,
    'config',
    ['data', 'parity', 'backends'],
    [
      'chunkSize',
      'compressionLevel',
      'minShards',
      'distinctFarms',
      'inFlight',
      'maintenanceInFlight',
      'lockSettleMs',
    ],
    C,
  );
  assertInteger(doc['data'], 'data', 1, 64, C);
  assertInteger(doc['parity'], 'parity', 0, 32, C);
  const total = doc['data'] + doc['parity'];
  const chunkSize = doc['chunkSize'] ?? DEFAULT_CHUNK_SIZE;
  assertInteger(chunkSize, 'chunkSize', 1024, 64 * 1024 * 1024, C);
  const compressionLevel = doc['compressionLevel'] ?? 3;
  assertInteger(compressionLevel, 'compressionLevel', 0, 19, C);
  const minShards = doc['minShards'] ?? total;
  assertInteger(minShards, 'minShards', Math.min(total, doc['data'] + 1), total, C);
  const distinctFarms = doc['distinctFarms'] ?? false;
  if (typeof distinctFarms !== 'boolean')
    fail(C, `'distinctFarms' must be true or false, got ${JSON.stringify(distinctFarms)}`);
  // Tuning for backends far away: more chunks in flight, a longer writer-lock settle
  // (a claim must be acknowledged within half of it; see writer-lock.ts).
  const inFlight = doc['inFlight'];
  if (inFlight !== undefined) assertInteger(inFlight, 'inFlight', 1, 16, C);
  // Chunk groups check and repair work on at once (task-window.ts).
  const maintenanceInFlight = doc['maintenanceInFlight'];
  if (maintenanceInFlight !== undefined)
    assertInteger(maintenanceInFlight, 'maintenanceInFlight', 1, MAX_MAINTENANCE_IN_FLIGHT, C);
  const lockSettleMs = doc['lockSettleMs'];
  if (lockSettleMs !== undefined) assertInteger(lockSettleMs, 'lockSettleMs', 10, 60_000, C);
  const list = doc['backends'];
  if (!Array.isArray(list) || list.length === 0)
    fail(C, `'backends' must be a non-empty list of zdb namespaces`);
  if (list.length > 1024) fail(C, `'backends' lists ${list.length} namespaces; at most 1024`);
  const backends = list.map((b: unknown, i) => checkBackend(b, `backends[${i}]`));
  return {
    options: {
      data: doc['data'],
      parity: doc['parity'],
      chunkSize,
      compressionLevel,
      minShards,
      distinctFarms,
      ...(inFlight === undefined ? {} : { inFlight }),
      ...(maintenanceInFlight === undefined ? {} : { maintenanceInFlight }),
      ...(lockSettleMs === undefined ? {} : { lock: { settleMs: lockSettleMs } }),
    },
    backends,
  };
}

function checkBackend(b: unknown, l: string): ZdbBackendOptions {
  assertObject(b, l, C);
  assertExactKeys(b, l, ['address', 'namespace', 'password', 'node'], ['farm'], C);
  assertString(b['address'], `${l}.address`, { min: 3, max: 300 }, C);
  parseAddress(b['address'], `${l}.address`);
  // zdb namespace names: up to 128 bytes, no spaces or control characters.
  assertString(b['namespace'], `${l}.namespace`, { min: 1, max: 128, pattern: LABEL }, C);
  assertString(b['password'], `${l}.password`, { min: 1, max: 128 }, C);
  assertString(b['node'], `${l}.node`, { min: 1, max: 128, pattern: LABEL }, C);
  if (b['farm'] !== undefined)
    assertString(b['farm'], `${l}.farm`, { min: 1, max: 128, pattern: LABEL }, C);
  return {
    address: b['address'],
    namespace: b['namespace'],
    password: b['password'],
    node: b['node'],
    farm: b['farm'] as string | undefined,
  };
}
