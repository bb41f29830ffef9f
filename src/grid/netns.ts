import { type ChildProcess, execFileSync, type StdioOptions, spawn } from 'node:child_process';
import { fail } from '../core/assert.ts';

/*
 * Thin wrappers over iproute2's `ip` for the grid's hosts: network namespaces, a bridge,
 * veth pairs and addresses (docs/grid.md). They are synchronous on purpose: each call takes
 * a few milliseconds, and the same calls must work from a process 'exit' hook, where
 * nothing asynchronous runs any more. They hold no state: what was made, and by whom, is
 * kept by netns-run.ts.
 */

/** Where `ip netns add` binds a namespace's handle. */
export const NETNS_DIR = '/run/netns';

/** Linux caps interface names at IFNAMSIZ - 1 characters. */
export const MAX_LINK_NAME = 15;

/**
 * Runs `ip ARGS` (inside `namespace` with `-n` when given) and returns its stdout.
 * @throws VdcError GRID_NETNS_COMMAND_FAILED with the command and what ip said
 */
export function ip(args: readonly string[], namespace?: string): string {
  const argv = namespace === undefined ? [...args] : ['-n', namespace, ...args];
  try {
    return execFileSync('ip', argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (cause) {
    const stderr = String((cause as { stderr?: unknown }).stderr ?? '').trim();
    fail(
      'GRID_NETNS_COMMAND_FAILED',
      `'ip ${argv.join(' ')}' failed: ${stderr || (cause as Error).message}; the grid needs root and iproute2`,
      cause,
    );
  }
}

function ipJson(args: readonly string[]): Record<string, unknown>[] {
  const out = ip(['-j', ...args]).trim();
  // Older iproute2 prints nothing (not "[]") for an empty namespace list.
  return out === '' ? [] : (JSON.parse(out) as Record<string, unknown>[]);
}

/** Names of the network namespaces `ip netns` knows (those under /run/netns). */
export function listNamespaces(): string[] {
  return ipJson(['netns', 'list']).map((n) => String(n['name']));
}

/** Names of the links of the host's (this process's) network namespace. */
export function listLinks(): string[] {
  return ipJson(['link', 'show']).map((l) => String(l['ifname']));
}

/** IPv4 prefixes the host namespace already routes or holds addresses in, as `a.b.c.d/len`. */
export function hostIpv4Prefixes(): string[] {
  const prefixes: string[] = [];
  for (const r of ipJson(['-4', 'route', 'show', 'table', 'all'])) {
    const dst = String(r['dst'] ?? '');
    if (dst === 'default' || dst === '') continue;
    prefixes.push(dst.includes('/') ? dst : `${dst}/32`);
  }
  for (const link of ipJson(['-4', 'addr', 'show']))
    for (const a of (link['addr_info'] as Record<string, unknown>[] | undefined) ?? [])
      prefixes.push(`${String(a['local'])}/${String(a['prefixlen'])}`);
  return prefixes;
}

/** Creates a namespace with its loopback up. */
export function addNamespace(name: string): void {
  ip(['netns', 'add', name]);
  ip(['link', 'set', 'lo', 'up'], name);
}

export function deleteNamespace(name: string): void {
  ip(['netns', 'delete', name]);
}

/** Creates a bridge in the host namespace, up, with `address` (CIDR) on it. */
export function addBridge(name: string, address: string): void {
  ip(['link', 'add', name, 'type', 'bridge']);
  ip(['addr', 'add', address, 'dev', name]);
  ip(['link', 'set', name, 'up']);
}

/**
 * Creates a veth pair whose peer is born inside `namespace` as `inner` (so no second
 * name ever exists in the host namespace), plugs `hostEnd` into `bridge`, and gives the
 * inner end `address` (CIDR). Both ends end up up.
 */
export function addVeth(
  hostEnd: string,
  bridge: string,
  namespace: string,
  inner: string,
  address: string,
): void {
  ip(['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', inner, 'netns', namespace]);
  ip(['link', 'set', hostEnd, 'master', bridge, 'up']);
  ip(['addr', 'add', address, 'dev', inner], namespace);
  ip(['link', 'set', inner, 'up'], namespace);
}

/** Deletes a link of the host namespace; deleting one end of a veth pair deletes both. */
export function deleteLink(name: string): void {
  ip(['link', 'delete', name]);
}

/** Pids of the processes whose network namespace is `namespace`. */
export function namespacePids(namespace: string): number[] {
  return ip(['netns', 'pids', namespace])
    .split('\n')
    .filter((l) => /^[0-9]+$/.test(l.trim()))
    .map(Number);
}

/**
 * Starts `command` inside `namespace` as the leader of a new process group, which teardown
 * signals whole. `nsenter --net` (util-linux) switches the network namespace only and
 * executes the command in place (the pid is the command's own). Not `ip netns exec`: that
 * also remounts /sys in a private mount namespace, which hides /sys/fs/cgroup, and a node
 * agent without its cgroups has no container runtime.
 */
export function spawnInNamespace(
  namespace: string,
  command: string,
  args: readonly string[],
  opts: { env: Record<string, string>; stdio: StdioOptions; cwd?: string },
): ChildProcess {
  return spawn('nsenter', [`--net=${NETNS_DIR}/${namespace}`, '--', command, ...args], {
    detached: true,
    env: opts.env,
    stdio: opts.stdio,
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
  });
}

export interface ListeningSocket {
  protocol: 'tcp' | 'tcp6';
  address: string;
  port: number;
}

function hexToAddress(hex: string, v6: boolean): string {
  const bytes = Buffer.from(hex, 'hex');
  // /proc/net/tcp* print each 32-bit word in host (little-endian) order.
  for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
  if (!v6) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // RFC 5952: the longest run of two or more zero groups becomes '::'.
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

/**
 * The TCP sockets listening in `namespace`, from the kernel's own tables
 * (/proc/net/tcp and tcp6 as seen from inside), for checks such as "no listener outside
 * loopback" (P4).
 */
export function listeningTcp(namespace: string): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  for (const protocol of ['tcp', 'tcp6'] as const) {
    let table: string;
    try {
      table = execFileSync('ip', ['netns', 'exec', namespace, 'cat', `/proc/net/${protocol}`], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (cause) {
      fail(
        'GRID_NETNS_COMMAND_FAILED',
        `could not read /proc/net/${protocol} in ${namespace}: ${(cause as Error).message}`,
        cause,
      );
    }
    for (const line of table.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4 || fields[3] !== '0A') continue; // 0A = TCP_LISTEN
      const [addr, port] = fields[1]!.split(':') as [string, string];
      sockets.push({
        protocol,
        address: hexToAddress(addr, protocol === 'tcp6'),
        port: Number.parseInt(port, 16),
      });
    }
  }
  return sockets;
}
