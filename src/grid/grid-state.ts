import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertObject } from '../core/assert.ts';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { parseJson } from '../core/strict-json.ts';

/*
 * What `vdc up` started, so `vdc down` stops exactly that and nothing else:
 * `$VDC_HOME/grid/grid.json`, one record per service with the pid and the address it serves.
 */

export interface ServiceRecord {
  pid: number;
  /** the process's start time (clock ticks since boot, /proc/PID/stat field 22): with the pid, names one process for ever */
  startTicks: string;
  /** what a person or a client connects to */
  address: string;
  log: string;
  startedAt: string;
}

export interface GridState {
  services: Record<string, ServiceRecord>;
}

export function gridStatePath(gridDir: string): string {
  return join(gridDir, 'grid.json');
}

export function readGridState(gridDir: string): GridState {
  const path = gridStatePath(gridDir);
  if (!existsSync(path)) return { services: {} };
  const doc = parseJson(readFileSync(path));
  assertObject(doc, path);
  const services = doc['services'];
  assertObject(services, `${path}: services`);
  return { services: services as unknown as Record<string, ServiceRecord> };
}

export function writeGridState(gridDir: string, state: GridState): void {
  writeFileAtomic(gridStatePath(gridDir), `${JSON.stringify(state, null, 2)}\n`, 0o600);
}

/** Start time of a process in clock ticks since boot, or undefined when it is gone. */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may hold spaces and parentheses: count fields after its closing one.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined; // gone
  }
}

/** Whether the recorded process still runs: same pid and same start time, so a reused pid is never taken for it. */
export function isGridProcess(record: Pick<ServiceRecord, 'pid' | 'startTicks'>): boolean {
  return record.startTicks !== undefined && processStartTicks(record.pid) === record.startTicks;
}
