import { join } from 'node:path';
import { type Call, checkAdmin, checkArgs, ERR_FROZEN, type Reply } from './command-types.ts';
import { decodePosition, encodePosition, type LogPosition } from './namespace-store.ts';
import { DATA_HEADER_SIZE, FLAG_DELETED, MAX_KEY_LENGTH, readDataHeader } from './record-format.ts';
import { array, bulk, error, integer, NIL } from './resp-reply.ts';
import { dataFileName, readAt } from './store-loader.ts';

/* SCAN, SCANX, RSCAN, KSCAN, KEYCUR, HISTORY, DATA RAW, INDEX DIRTY. */

/** Entries per SCAN reply: 0-db returns what fits in a time slice; a count is steadier. */
export const SCAN_BATCH = 128;

function scan(call: Call, forward: boolean): Reply {
  if (call.args.length > 2) return error('Unexpected arguments');
  const space = call.client.ns!;
  if (space.frozen) return error(ERR_FROZEN);
  const store = space.store;
  let start: LogPosition | undefined;
  if (call.args.length === 1) start = forward ? store.firstPosition() : store.lastPosition();
  else {
    const p = decodePosition(call.args[1]!);
    const rec = p ? store.readIndexAt(p) : undefined;
    if (!p || !rec) return error('Invalid key format');
    start = forward ? store.nextPosition(p, rec) : store.previousPosition(p);
  }
  const items = store.scan(start, forward, SCAN_BATCH);
  if (items.length === 0) return error('No more data');
  const last = items[items.length - 1]!;
  return array([
    bulk(encodePosition(last.position)),
    array(items.map((i) => array([bulk(i.key), integer(i.length), integer(i.timestamp)]))),
  ]);
}

export const commandScan = (call: Call): Reply => scan(call, true);
export const commandRscan = (call: Call): Reply => scan(call, false);

export function commandKscan(call: Call): Reply {
  const space = call.client.ns!;
  if (space.store.mode !== 'user') return error("Index running mode doesn't support this feature");
  const bad = checkArgs(call, 2);
  if (bad) return bad;
  const prefix = call.args[1]!;
  const index = space.store.index;
  const keys: Buffer[] = [];
  for (const id of index.ids()) {
    if (index.entry(id).flags & FLAG_DELETED) continue;
    const k = index.key(id);
    if (k.length >= prefix.length && k.subarray(0, prefix.length).equals(prefix))
      keys.push(bulk(k));
  }
  if (keys.length === 0) return error('No keys match');
  return array([bulk('0'), array(keys)]);
}

export function commandKeycur(call: Call): Reply {
  const bad = checkArgs(call, 2);
  if (bad) return bad;
  const store = call.client.ns!.store;
  const id = store.index.find(call.args[1]!);
  if (id < 0) return error('Key not found');
  const e = store.index.entry(id);
  return bulk(encodePosition({ id: e.idxId, offset: e.idxOffset }));
}

export function commandHistory(call: Call): Reply {
  const argc = call.args.length;
  if (argc !== 2 && argc !== 3) return error('Invalid arguments');
  const space = call.client.ns!;
  if (space.frozen) return error(ERR_FROZEN);
  const store = space.store;
  const key = call.args[1]!;
  if (key.length > MAX_KEY_LENGTH) return error('Invalid key');
  let p: LogPosition;
  if (argc === 2) {
    const id = store.index.find(key);
    if (id < 0) return error('Key not found');
    const e = store.index.entry(id);
    if (e.flags & FLAG_DELETED) return error('Key not found');
    p = { id: e.idxId, offset: e.idxOffset };
  } else {
    const d = decodePosition(call.args[2]!);
    if (!d) return error('Invalid arguments');
    if (d.id === 0 && d.offset === 0) return error('No more history');
    p = d;
  }
  const rec = store.readIndexAt(p);
  if (!rec) return error('Invalid arguments (index query)');
  if (!rec.key.equals(key)) return error('Invalid arguments (invalid key)');
  let value: Buffer | undefined;
  try {
    value = store.readValue(rec.key, rec.dataId, rec.dataOffset, rec.length);
  } catch {
    value = undefined;
  }
  if (!value) return error('Internal Error');
  const prev =
    rec.prevId === 0 && rec.prevOffset === 0
      ? NIL
      : bulk(encodePosition({ id: rec.prevId, offset: rec.prevOffset }));
  return array([prev, bulk(String(rec.timestamp)), bulk(value)]);
}

/** DATA RAW fileid offset: the data record at that place, for repair tools (admin). */
export function commandData(call: Call): Reply {
  const denied = checkAdmin(call);
  if (denied) return denied;
  if (call.args.length !== 4 || call.args[1]!.toString('latin1').toUpperCase() !== 'RAW')
    return error('Invalid arguments');
  const fileId = Number(call.args[2]!.toString('latin1'));
  const offset = Number(call.args[3]!.toString('latin1'));
  const store = call.client.ns!.store;
  if (
    !Number.isInteger(fileId) ||
    !Number.isInteger(offset) ||
    fileId < 0 ||
    offset < 0 ||
    fileId > store.currentId
  )
    return error('Invalid arguments');
  store.flush();
  const head = readAt(
    join(store.dataDir, dataFileName(fileId)),
    DATA_HEADER_SIZE + MAX_KEY_LENGTH,
    offset,
  );
  const h = readDataHeader(head, 0);
  if (!h) return error('Invalid offset or corrupted data');
  const key = Buffer.from(head.subarray(DATA_HEADER_SIZE, DATA_HEADER_SIZE + h.keyLen));
  const value = store.readValue(key, fileId, offset, h.flags & FLAG_DELETED ? 0 : h.valueLen);
  return array([
    bulk(key),
    integer(h.flags),
    integer(h.timestamp),
    integer(h.valueCrc),
    value ? bulk(value) : NIL,
  ]);
}

/** INDEX DIRTY [RESET]: the index file ids written since the last reset (for incremental backups). */
export function commandIndex(call: Call): Reply {
  const denied = checkAdmin(call);
  if (denied) return denied;
  const sub = call.args[1]?.toString('latin1').toUpperCase();
  const store = call.client.ns!.store;
  if (sub !== 'DIRTY' || call.args.length > 3) return error('Invalid arguments');
  if (call.args.length === 3) {
    if (call.args[2]!.toString('latin1').toUpperCase() !== 'RESET')
      return error('Invalid arguments');
    store.dirtyIndexIds.clear();
    return Buffer.from('+OK\r\n');
  }
  return array([...store.dirtyIndexIds].sort((a, b) => a - b).map((id) => integer(id)));
}
