import { statfsSync } from 'node:fs';
import {
  type Call,
  checkAdmin,
  checkArgs,
  ERR_PLAIN_REFUSED,
  type Reply,
} from './command-types.ts';
import {
  DEFAULT_NAMESPACE,
  NAMESPACE_MAX_LENGTH,
  type Namespace,
  validNamespaceName,
} from './namespace-registry.ts';
import { array, bulk, error, integer, OK } from './resp-reply.ts';
import { passwordMatches, securePasswordMatches } from './secure-auth.ts';

/* NSNEW, NSDEL, NSINFO, NSLIST, NSSET, NSJUMP, SELECT, DBSIZE, RELOAD, FLUSH. */

function nameArg(call: Call, i: number): string | Buffer {
  const a = call.args[i]!;
  if (a.length > NAMESPACE_MAX_LENGTH) return error('Namespace too long');
  return a.toString('latin1');
}

export function commandNsnew(call: Call): Reply {
  const denied = checkAdmin(call) ?? checkArgs(call, 2);
  if (denied) return denied;
  const name = nameArg(call, 1);
  if (typeof name !== 'string') return name;
  if (!validNamespaceName(name)) return error('This name is not allowed');
  const reg = call.server.registry;
  if (reg.get(name)) return error('This namespace is not available');
  try {
    reg.create(name);
  } catch {
    return error('Could not create namespace');
  }
  return OK;
}

export function commandNsdel(call: Call): Reply {
  const denied = checkAdmin(call) ?? checkArgs(call, 2);
  if (denied) return denied;
  const name = nameArg(call, 1);
  if (typeof name !== 'string') return name;
  if (name === DEFAULT_NAMESPACE) return error('Cannot remove default namespace');
  const ns = call.server.registry.get(name);
  if (!ns) return error("This namespace doesn't exists");
  if (call.client.ns === ns) return error("Cannot remove namespace you're currently using.");
  call.server.detachClients(ns);
  try {
    call.server.registry.delete(ns);
  } catch {
    return error('Could not delete this namespace');
  }
  return OK;
}

export function commandSelect(call: Call): Reply {
  const argc = call.args.length;
  if (argc < 2) return error('Invalid argument');
  const name = nameArg(call, 1);
  if (typeof name !== 'string') return name;
  const ns = call.server.registry.get(name);
  if (!ns) return error('Namespace not found');
  let writable = true;
  if (ns.password !== undefined) {
    if (argc < 3) {
      if (!ns.public) return error('Namespace protected and private');
      writable = false;
    } else if (argc > 4) return error('Too many arguments');
    else if (argc === 3) {
      const given = call.args[2]!;
      if (call.server.settings.secure) return error(ERR_PLAIN_REFUSED);
      if (given.length > 255) return error('Password too long');
      if (!passwordMatches(ns.password, given)) return error('Access denied');
    } else {
      if (call.args[2]!.toString('latin1').toUpperCase() !== 'SECURE')
        return error('Only SECURE extra method supported');
      const nonce = call.client.nonce;
      if (nonce === undefined)
        return error('No CHALLENGE requested, secure authentication not available');
      const hash = call.args[3]!;
      if (hash.length !== 40) return error('Invalid hash length');
      // one challenge, one attempt: a replayed hash cannot be used again (0-db keeps the nonce)
      call.client.nonce = undefined;
      if (!securePasswordMatches(nonce, ns.password, hash)) return error('Access denied');
    }
  }
  call.client.ns = ns;
  call.client.writable = writable;
  return OK;
}

export function commandNslist(call: Call): Reply {
  return array(call.server.registry.list().map((ns) => bulk(ns.name)));
}

function freeSpace(path: string): number | undefined {
  try {
    const s = statfsSync(path);
    return s.bsize * s.bavail;
  } catch {
    return undefined;
  }
}

export function namespaceInfo(ns: Namespace): string {
  const s = ns.store;
  const mb = (n: number) => (n / (1024 * 1024)).toFixed(2);
  const indexSize = s.indexSize;
  const lines = [
    '# namespace',
    `name: ${ns.name}`,
    `entries: ${s.entries}`,
    `public: ${ns.public ? 'yes' : 'no'}`,
    `worm: ${ns.worm ? 'yes' : 'no'}`,
    `locked: ${ns.locked ? 'yes' : 'no'}`,
    `frozen: ${ns.frozen ? 'yes' : 'no'}`,
    `password: ${ns.password !== undefined ? 'yes' : 'no'}`,
    `data_size_bytes: ${s.datasize}`,
    `data_size_mb: ${mb(s.datasize)}`,
    `data_limits_bytes: ${ns.maxsize}`,
    `index_size_bytes: ${indexSize}`,
    `index_size_kb: ${(indexSize / 1024).toFixed(2)}`,
    `next_internal_id: 0x${s.nextSeq.toString(16).padStart(8, '0')}`,
    `mode: ${s.mode === 'seq' ? 'sequential' : 'userkey'}`,
    `index_memory_bytes: ${s.index.memoryBytes()}`,
  ];
  if (ns.maxsize > 0) lines.push(`space_available: ${Math.max(0, ns.maxsize - s.datasize)}`);
  const fi = freeSpace(s.indexDir);
  if (fi !== undefined)
    lines.push(`index_disk_freespace_bytes: ${fi}`, `index_disk_freespace_mb: ${mb(fi)}`);
  const fd = freeSpace(s.dataDir);
  if (fd !== undefined)
    lines.push(`data_disk_freespace_bytes: ${fd}`, `data_disk_freespace_mb: ${mb(fd)}`);
  return `${lines.join('\n')}\n`;
}

export function commandNsinfo(call: Call): Reply {
  const bad = checkArgs(call, 2);
  if (bad) return bad;
  const name = nameArg(call, 1);
  if (typeof name !== 'string') return name;
  const ns = call.server.registry.get(name);
  if (!ns) return error('Namespace not found');
  return bulk(namespaceInfo(ns));
}

export function commandNsset(call: Call): Reply {
  const denied = checkAdmin(call) ?? checkArgs(call, 4);
  if (denied) return denied;
  const name = nameArg(call, 1);
  if (typeof name !== 'string') return name;
  if (call.args[2]!.length > 256 || call.args[3]!.length > 256) return error('Argument too long');
  if (call.args[3]!.length > 63) return error('Invalid value');
  const prop = call.args[2]!.toString('latin1');
  const value = call.args[3]!.toString('utf8');
  if (name === DEFAULT_NAMESPACE) return error('Cannot update default namespace');
  const ns = call.server.registry.get(name);
  if (!ns) return error('Namespace not found');
  const flag = value[0] === '1';
  switch (prop) {
    case 'maxsize': {
      const n = Number.parseInt(value, 10);
      ns.maxsize = Number.isFinite(n) && n > 0 ? n : 0;
      break;
    }
    case 'password':
      ns.password = value === '*' ? undefined : value;
      break;
    case 'public':
      ns.public = flag;
      break;
    case 'worm':
      ns.worm = flag;
      break;
    case 'lock':
      ns.locked = flag;
      break;
    case 'freeze':
      ns.frozen = flag;
      break;
    case 'mode': {
      if (call.server.settings.mode !== undefined)
        return error('This server instance is configured to use a single runtime mode');
      if (!ns.store.fresh) return error('Cannot change mode of used namespace');
      if (value !== 'user' && value !== 'seq')
        return error('Invalid property value (expected: user, seq)');
      ns.store.setMode(value);
      break;
    }
    default:
      return error('Invalid property');
  }
  call.server.registry.commit(ns);
  return OK;
}

export function commandNsjump(call: Call): Reply {
  const denied = checkAdmin(call);
  if (denied) return denied;
  call.client.ns!.store.jump();
  return OK;
}

export function commandDbsize(call: Call): Reply {
  return integer(call.client.ns!.store.entries);
}

export function commandReload(call: Call): Reply {
  const denied = checkAdmin(call) ?? checkArgs(call, 2);
  if (denied) return denied;
  const name = nameArg(call, 1);
  if (typeof name !== 'string') return name;
  const ns = call.server.registry.get(name);
  if (!ns) return error('Namespace not found');
  ns.store.reload();
  return OK;
}

export function commandFlush(call: Call): Reply {
  const ns = call.client.ns!;
  if (ns.public || ns.password === undefined) return error('Flushing public namespace denied');
  if (!call.client.writable) return error('Namespace is in read-only mode');
  try {
    ns.store.reset();
  } catch {
    return error('Internal Server Error');
  }
  return OK;
}
