import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/*
 * What a benchmark reads about processes and containers from /proc and the cgroup
 * filesystem: memory, CPU time, a container's cgroup use.
 */

const MiB = 2 ** 20;

/** kB fields of /proc/PID/status (VmRSS, VmHWM, …) in MiB. */
export function procMemory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** CPU seconds (user + system) a process and its threads have used so far; NaN once gone. */
export function cpuSeconds(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU the agent used over `ms`, in % of one core, from /proc/PID/stat: its own (utime +
 * stime) and with the children it waited for (cutime + cstime: the crun runs of its monitor).
 */
export async function cpuPercent(
  pid: number,
  ms: number,
): Promise<{ own: number; withChildren: number }> {
  const ticks = () => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ').map(Number);
    return { own: f[11]! + f[12]!, children: f[13]! + f[14]! }; // fields 14-17 of proc(5)
  };
  const before = ticks();
  await new Promise((r) => setTimeout(r, ms));
  const after = ticks();
  const pct = (t: number) => (t / 100 / (ms / 1000)) * 100; // USER_HZ is 100 on Linux
  return {
    own: pct(after.own - before.own),
    withChildren: pct(after.own + after.children - before.own - before.children),
  };
}

/** The cgroup folder of `pid` for a v1 `controller`, or its v2 folder. */
function cgroupDir(pid: number, controller: string): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes(controller));
  const path = (v1 ?? lines.find((l) => l.startsWith('0::')) ?? '').split(':').slice(2).join(':');
  return v1 ? `/sys/fs/cgroup/${controller}${path}` : `/sys/fs/cgroup${path}`;
}

/**
 * A container's memory as its cgroup counts it (v1 memory.usage_in_bytes, v2
 * memory.current: includes its page cache and kernel memory) and as the RSS of its
 * processes (shared pages of the busybox binary counted in each), through its init's cgroup.
 */
export function containerMemory(pid: number): { cgroup: number; rss: number } {
  const dir = cgroupDir(pid, 'memory');
  const v1 = dir.startsWith('/sys/fs/cgroup/memory/');
  const cgroup = Number(
    readFileSync(join(dir, v1 ? 'memory.usage_in_bytes' : 'memory.current'), 'utf8'),
  );
  let rss = 0;
  for (const p of readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim().split('\n')) {
    try {
      if (p) rss += procMemory(Number(p)).rss * MiB;
    } catch {
      // a `sleep` that ended between the two reads
    }
  }
  return { cgroup, rss };
}

/** A container's CPU time so far in ns (v1 cpuacct.usage, v2 cpu.stat usage_usec). */
export function containerCpuNs(pid: number): number {
  const dir = cgroupDir(pid, 'cpuacct');
  if (dir.startsWith('/sys/fs/cgroup/cpuacct/'))
    return Number(readFileSync(join(dir, 'cpuacct.usage'), 'utf8'));
  const stat = readFileSync(join(dir, 'cpu.stat'), 'utf8');
  return Number(/^usage_usec (\d+)/m.exec(stat)?.[1]) * 1000;
}
