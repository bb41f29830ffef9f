import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

/*
 * How this host mounts cgroups, and so how crun must be started for its limits to apply.
 *
 * - `v2`: one unified hierarchy at /sys/fs/cgroup; crun uses it directly.
 * - `hybrid`: v1 controllers under /sys/fs/cgroup/<controller> plus an empty cgroup2 at
 *   /sys/fs/cgroup/unified (systemd's "hybrid" layout). Debian's crun 1.8 refuses to run
 *   there ("cgroups in hybrid mode not supported"), so every crun call runs in a private
 *   mount namespace where the cgroup2 mount is taken away; crun then sees a pure v1 host
 *   and the limits apply through the v1 controllers. The host's own mounts are untouched.
 * - `v1`: v1 controllers only; crun uses them directly.
 *
 * Where the OOM killer's count is read differs too: memory.events (v2) or
 * memory.oom_control (v1), under the container's cgroup path.
 */

export type CgroupLayout =
  | { kind: 'v2'; root: string }
  | { kind: 'hybrid'; root: string; unified: string }
  | { kind: 'v1'; root: string };

interface Mount {
  point: string;
  type: string;
  options: string;
}

/** The cgroup mounts of /proc/self/mountinfo (fields per proc(5)). */
export function cgroupMounts(mountinfo: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const type = right[0] ?? '';
    if (type !== 'cgroup' && type !== 'cgroup2') continue;
    mounts.push({ point: left[4] ?? '', type, options: right[2] ?? '' });
  }
  return mounts;
}

/** Reads the layout from mountinfo; undefined when the host mounts no cgroup at all. */
export function detectCgroupLayout(
  mountinfo = readFileSync('/proc/self/mountinfo', 'utf8'),
): CgroupLayout | undefined {
  const mounts = cgroupMounts(mountinfo);
  const v2 = mounts.filter((m) => m.type === 'cgroup2');
  const v1 = mounts.filter((m) => m.type === 'cgroup');
  const unified = v2.find((m) => m.point === '/sys/fs/cgroup');
  if (unified && v1.length === 0) return { kind: 'v2', root: unified.point };
  if (v1.length > 0 && v2.length > 0) {
    const memory = v1.find((m) => m.options.split(',').includes('memory'));
    return {
      kind: 'hybrid',
      root: memory ? memory.point.replace(/\/memory$/, '') : '/sys/fs/cgroup',
      unified: v2[0]!.point,
    };
  }
  if (v1.length > 0) return { kind: 'v1', root: '/sys/fs/cgroup' };
  return undefined;
}

/**
 * How many times the OOM killer struck inside the cgroup at `path` (as given to crun in
 * `linux.cgroupsPath`), or undefined when the cgroup is gone or the kernel does not count.
 */
export function oomKills(layout: CgroupLayout, path: string): number | undefined {
  const file =
    layout.kind === 'v2'
      ? join(layout.root, path, 'memory.events')
      : join(layout.root, 'memory', path, 'memory.oom_control');
  if (!existsSync(file)) return undefined;
  const m = /^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'));
  return m ? Number(m[1]) : undefined;
}

/**
 * The argv that runs `crun ...args` so that its cgroup limits apply on this host: as is on
 * v1 and v2, inside a private mount namespace without the cgroup2 mount on hybrid hosts.
 */
export function crunArgv(layout: CgroupLayout, crun: string, args: string[]): string[] {
  if (layout.kind !== 'hybrid') return [crun, ...args];
  // `unshare -m` gives the private mount namespace (propagation private by default), so the
  // unmount is seen by crun alone; `exec` keeps crun's exit status and signals ours.
  return [
    'unshare',
    '--mount',
    '--',
    'sh',
    '-c',
    'umount -l "$0" && exec "$@"',
    layout.unified,
    crun,
    ...args,
  ];
}

/**
 * Removes the empty cgroup folder `path` (and nothing that is still in use: the kernel
 * refuses to remove a cgroup with processes or children, which is fine).
 */
export function removeEmptyCgroup(layout: CgroupLayout, path: string): void {
  const roots =
    layout.kind === 'v2'
      ? [layout.root]
      : readdirSync(layout.root)
          .map((c) => join(layout.root, c))
          .filter((d) => d !== (layout.kind === 'hybrid' ? layout.unified : ''));
  for (const root of roots) {
    try {
      rmdirSync(join(root, path));
    } catch {
      // absent, busy or not a cgroup hierarchy: nothing of ours to remove there
    }
  }
}
