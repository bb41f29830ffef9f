import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertObject, fail } from '../core/assert.ts';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { parseJson } from '../core/strict-json.ts';
import { isAlive, processIdentity } from './run-record.ts';

/*
 * What `vdc up` started, so `vdc down` stops exactly that and nothing else:
 * `$VDC_HOME/grid/grid.json`, one record per service with the pid and the address it serves.
 */

export interface ServiceRecord {
  /** the network namespace it runs in; absent for the host's own (root's grid: docs/grid.md) */
  namespace?: string;
  pid: number;
  /** the process's start time (clock ticks since boot, /proc/PID/stat field 22): with the pid, names one process for ever */
  startTicks: string;
  /** what a person or a client connects to */
  address: string;
  log: string;
  startedAt: string;
}

/** A host of the grid's namespace run, as NetnsRun.resume() takes it. */
export interface HostRecord {
  label: string;
  namespace: string;
  address: string;
  link: string;
}

/** The namespace run of root's grid (src/grid/netns-run.ts): kept past `vdc up`, ended by `vdc down`. */
export interface NetnsRecord {
  run: string;
  subnet: string;
  hosts: HostRecord[];
}

/** The demo VDC `vdc up` applied as the user, so a second `up` applies nothing twice. */
export interface DemoRecord {
  name: string;
  gateway: number;
  node: number;
  contract: number;
  url: string;
}

export interface GridState {
  services: Record<string, ServiceRecord>;
  netns?: NetnsRecord;
  /** the /24 root's grid last used: asked for again, since its addresses are on the ledger */
  subnet?: string;
  /** where the nodes keep their data when $VDC_HOME is not searchable by containers (docs/grid.md) */
  nodesData?: string;
  ledgerKey?: string;
  demo?: DemoRecord;
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
  // Written by this module only (0600 in a 0700 folder, root's alone when root reads it:
  // grid-folder.ts): the shape is trusted once the document parses and the pids are pids;
  // what it names is checked before use (pids by start time, runs by record, the nodes'
  // data folder against the one derived from the grid folder).
  for (const [name, record] of Object.entries(services)) {
    const r = record as Partial<ServiceRecord> | null;
    if (!r || !Number.isSafeInteger(r.pid) || r.pid! < 2 || typeof r.startTicks !== 'string')
      fail('GRID_STATE_INVALID', `${path}: the service ${name} has no valid pid and start time`);
  }
  return {
    ...(doc as unknown as GridState),
    services: services as unknown as Record<string, ServiceRecord>,
  };
}

export function writeGridState(gridDir: string, state: GridState): void {
  writeFileAtomic(gridStatePath(gridDir), `${JSON.stringify(state, null, 2)}\n`, 0o600);
}

/** Start time of a process in clock ticks since boot, or undefined when it is gone. */
export function processStartTicks(pid: number): string | undefined {
  return processIdentity(pid)?.startTicks;
}

/**
 * Whether the recorded process still runs: same pid and same start time, so a reused pid is
 * never taken for it, and not a zombie.
 */
export function isGridProcess(record: Pick<ServiceRecord, 'pid' | 'startTicks'>): boolean {
  return record.startTicks !== undefined && isAlive(record);
}
