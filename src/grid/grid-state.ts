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

/** Whether `pid` is alive and is the grid's own process (its command line names the grid folder), not a reused pid. */
export function isGridProcess(pid: number, gridDir: string): boolean {
  try {
    process.kill(pid, 0);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(gridDir);
  } catch {
    return false; // gone, or not ours to signal
  }
}
