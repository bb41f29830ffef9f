import { readFileSync, statfsSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/*
 * What the node offers and has left, as node.report and node.stats carry it: cores, memory
 * from /proc/meminfo, and the disk of the data folder. `used` is what the machine itself
 * has in use now (memory not available, disk blocks taken); workloads' reservations are
 * added to it once runtimes run workloads.
 */

export interface Resources {
  cpu: number;
  memory: number;
  disk: number;
}

export interface Capacity {
  total: Resources;
  used: Resources;
}

/** MemTotal and MemAvailable in bytes, from /proc/meminfo. */
export function readMemory(meminfo = readFileSync('/proc/meminfo', 'utf8')): {
  total: number;
  available: number;
} {
  const kib = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(meminfo);
    return m ? Number(m[1]) * 1024 : 0;
  };
  const total = kib('MemTotal');
  const available = kib('MemAvailable') || kib('MemFree');
  return { total, available: Math.min(available, total) };
}

/** The capacity of this machine, with the disk measured where `dataDir` lives. */
export function readCapacity(dataDir: string): Capacity {
  const mem = readMemory();
  const fs = statfsSync(dataDir);
  const disk = fs.blocks * fs.bsize;
  return {
    total: { cpu: availableParallelism(), memory: mem.total, disk },
    used: { cpu: 0, memory: mem.total - mem.available, disk: disk - fs.bavail * fs.bsize },
  };
}
