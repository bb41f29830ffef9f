import {
  type Call,
  checkAdmin,
  checkArgs,
  ERR_FROZEN,
  ERR_LOCKED,
  ERR_READONLY,
  type Reply,
} from './command-types.ts';
import {
  FILE_HEADER_SIZE,
  FLAG_DELETED,
  MAX_KEY_LENGTH,
  valueCrc,
  valueLength,
} from './record-format.ts';
import { array, bulk, error, integer, NIL, OK } from './resp-reply.ts';

/* SET, SETX, GET, MGET, DEL, EXISTS, CHECK, LENGTH, KEYTIME: 0-db's dataset commands. */

export const MAX_MGET_REPLY_BYTES = 64 * 1024 * 1024;

function ns(call: Call) {
  return call.client.ns!;
}

function timestampOf(call: Call): number {
  if (call.args.length < 4) return Math.floor(Date.now() / 1000);
  const n = Number.parseInt(call.args[3]!.toString('latin1'), 10);
  return Number.isFinite(n) && n >= 0 ? n >>> 0 : 0;
}

export function commandSet(call: Call): Reply {
  if (call.args.length === 4) {
    const denied = checkAdmin(call);
    if (denied) return denied;
  } else {
    const bad = checkArgs(call, 3, true);
    if (bad) return bad;
  }
  const key = call.args[1]!;
  // a big value may come as the pieces it was received in (stored without joining them)
  const value = call.valueParts ?? call.args[2]!;
  const length = valueLength(value);
  if (key.length > MAX_KEY_LENGTH) return error('Key too large');
  if (!call.client.writable) return error(ERR_READONLY);
  const space = ns(call);
  if (space.frozen) return error(ERR_FROZEN);
  if (space.locked) return error(ERR_LOCKED);
  const store = space.store;
  const existingId = key.length > 0 ? store.index.find(key) : -1;
  const existing = existingId >= 0 ? store.index.entry(existingId) : undefined;
  const live = existing && !(existing.flags & FLAG_DELETED) ? existing : undefined;
  if (space.maxsize > 0) {
    const floating = live ? live.length : 0;
    if (store.datasize + length > space.maxsize + floating)
      return error('No space left on this namespace');
  }
  let id: Buffer;
  if (store.mode === 'seq') {
    if (key.length > 0 && !existing) return error('Invalid key, only update authorized');
    if (key.length > 0) id = key;
    else {
      id = Buffer.alloc(4);
      id.writeUInt32LE(store.nextSeq >>> 0, 0);
    }
  } else {
    if (key.length === 0) return error('Invalid argument, key needed');
    id = key;
  }
  const crc = valueCrc(value);
  if (live && live.crc === crc) return NIL;
  if (live && space.worm) return error('Cannot update a key when namespace is in worm mode');
  if (store.dataEnd > FILE_HEADER_SIZE && store.dataEnd + length > call.server.settings.datasize)
    store.jump();
  const known = id === key ? existingId : store.index.find(id);
  store.append(Buffer.from(id), value, timestampOf(call), false, crc, known);
  call.wrote = space;
  return bulk(id);
}

/** The live value of `key` (as a RESP bulk reply when `asReply`), or why there is none. */
function readLive(call: Call, key: Buffer, asReply = false): Buffer | 'missing' | 'corrupt' {
  const store = ns(call).store;
  const id = store.index.find(key);
  if (id < 0) return 'missing';
  const e = store.index.entry(id);
  if (e.flags & FLAG_DELETED) return 'missing';
  let v: Buffer | undefined;
  try {
    v = asReply
      ? store.readValueReply(key, e.dataId, e.dataOffset, e.length)
      : store.readValue(key, e.dataId, e.dataOffset, e.length);
  } catch {
    v = undefined;
  }
  return v ?? 'corrupt';
}

/** GET's reply: the value framed where it was read (no copy), nil, or 0-db's error. */
function getReply(call: Call, key: Buffer): Buffer {
  const v = readLive(call, key, true);
  if (v === 'missing') return NIL;
  if (v === 'corrupt') return error('Internal Error');
  return v;
}

export function commandGet(call: Call): Reply {
  const bad = checkArgs(call, 2);
  if (bad) return bad;
  const key = call.args[1]!;
  if (key.length > MAX_KEY_LENGTH) return error('Invalid key');
  if (ns(call).frozen) return error(ERR_FROZEN);
  return getReply(call, key);
}

export function commandMget(call: Call): Reply {
  if (call.args.length < 2) return error('Invalid arguments');
  const keys = call.args.slice(1);
  for (const k of keys) if (k.length > MAX_KEY_LENGTH) return error('Invalid key');
  if (ns(call).frozen) return error(ERR_FROZEN);
  const replies: Buffer[] = [];
  let total = 0;
  for (const k of keys) {
    const r = getReply(call, k);
    total += r.length;
    // bounded: 1023 values of 8 MiB would be 8 GiB in one reply (0-db streams it)
    if (total > MAX_MGET_REPLY_BYTES)
      return error('MGET reply too large (more than 64 MiB): ask for fewer keys');
    replies.push(r);
  }
  return array(replies);
}

function liveEntry(call: Call, key: Buffer) {
  const store = ns(call).store;
  const id = store.index.find(key);
  if (id < 0) return undefined;
  const e = store.index.entry(id);
  return e.flags & FLAG_DELETED ? undefined : e;
}

function keyCommand(call: Call): Buffer | undefined {
  const bad = checkArgs(call, 2);
  if (bad) return bad;
  if (call.args[1]!.length > MAX_KEY_LENGTH) return error('Invalid key');
  if (ns(call).frozen) return error(ERR_FROZEN);
  return undefined;
}

export function commandDel(call: Call): Reply {
  const bad = checkArgs(call, 2);
  if (bad) return bad;
  const key = call.args[1]!;
  if (key.length > MAX_KEY_LENGTH) return error('Invalid key');
  if (!call.client.writable) return error(ERR_READONLY);
  const space = ns(call);
  if (space.frozen) return error(ERR_FROZEN);
  if (space.locked) return error(ERR_LOCKED);
  if (!liveEntry(call, key)) return error('Key not found');
  if (space.worm) return error('Cannot delete a key when namespace is in worm mode');
  space.store.append(Buffer.from(key), Buffer.alloc(0), Math.floor(Date.now() / 1000), true);
  call.wrote = space;
  return OK;
}

export function commandExists(call: Call): Reply {
  const bad = keyCommand(call);
  if (bad) return bad;
  return integer(liveEntry(call, call.args[1]!) ? 1 : 0);
}

export function commandCheck(call: Call): Reply {
  const bad = keyCommand(call);
  if (bad) return bad;
  const v = readLive(call, call.args[1]!);
  if (v === 'missing') return NIL;
  return integer(v === 'corrupt' ? 0 : 1);
}

export function commandLength(call: Call): Reply {
  const bad = keyCommand(call);
  if (bad) return bad;
  const e = liveEntry(call, call.args[1]!);
  return e ? integer(e.length) : NIL;
}

export function commandKeytime(call: Call): Reply {
  const bad = keyCommand(call);
  if (bad) return bad;
  const e = liveEntry(call, call.args[1]!);
  return e ? integer(e.timestamp) : NIL;
}
