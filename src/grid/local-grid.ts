import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { fail } from '../core/assert.ts';
import { freeLoopbackPort } from '../core/free-port.ts';
import { httpJson } from '../core/http-client.ts';
import { GRID_SERVICES, type GridService } from './grid-services.ts';
import {
  type GridState,
  isGridProcess,
  processStartTicks,
  readGridState,
  type ServiceRecord,
  writeGridState,
} from './grid-state.ts';

/*
 * The local grid of `vdc up`: every service a background `vdc` process under
 * `$VDC_HOME/grid`, recorded in grid.json. `up` is idempotent (running services are kept),
 * `down` stops only the recorded processes, and `down --purge` also deletes the grid folder.
 */

const VDC_BIN = new URL('../../bin/vdc', import.meta.url).pathname;
const READY_TIMEOUT_MS = 30_000;

export interface GridStatus {
  dir: string;
  services: Record<string, ServiceRecord & { running: boolean; hint: string }>;
}

export function gridDir(home: string): string {
  return join(home, 'grid');
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freePort(preferred: number): Promise<number> {
  return (await portIsFree(preferred)) ? preferred : freeLoopbackPort();
}

async function isReady(service: GridService, address: string): Promise<boolean> {
  try {
    if (service.probe === 'http') {
      await httpJson(`${address}/v1/ledger`, { timeoutMs: 1000 });
      return true;
    }
    const { hostname: host, port } = new URL(address);
    await new Promise<void>((resolve, reject) => {
      const socket = createConnection({ host, port: Number(port) }, () => {
        socket.end();
        resolve();
      });
      socket.once('error', reject);
    });
    return true;
  } catch {
    return false; // not yet listening
  }
}

async function start(
  service: GridService,
  dir: string,
  addresses: Record<string, string>,
): Promise<ServiceRecord> {
  const port = await freePort(service.preferredPort);
  const folder = join(dir, service.name);
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const log = join(folder, `${service.name}.log`);
  const out = openSync(log, 'a', 0o600);
  let spawnError: Error | undefined;
  const child = spawn(VDC_BIN, service.args(dir, port, addresses), {
    detached: true,
    stdio: ['ignore', out, out],
  });
  closeSync(out); // the child has its own copy
  child.once('error', (err) => {
    spawnError = err;
  });
  child.unref();
  const address = service.address(port);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await isReady(service, address))) {
    if (spawnError || child.exitCode !== null || Date.now() > deadline) {
      // Never leave an unrecorded process behind: a second `up` would start another writer.
      if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
      fail(
        'GRID_START_FAILED',
        `the ${service.name} did not come up (${spawnError?.message ?? `see ${log}`}): fix what it says, then run 'vdc up' again`,
        spawnError,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const startTicks = processStartTicks(child.pid!);
  if (startTicks === undefined)
    fail('GRID_START_FAILED', `the ${service.name} exited right after starting (see ${log})`);
  return { pid: child.pid!, startTicks, address, log, startedAt: new Date().toISOString() };
}

/**
 * Starts every grid service that is not running; keeps those that are.
 * @throws VdcError GRID_START_FAILED naming the service and its log
 */
export async function gridUp(home: string, onStart?: (name: string) => void): Promise<GridStatus> {
  const dir = gridDir(home);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const state: GridState = readGridState(dir);
  const addresses: Record<string, string> = {};
  for (const service of GRID_SERVICES) {
    let record = state.services[service.name];
    if (!record || !isGridProcess(record)) {
      onStart?.(service.name);
      record = await start(service, dir, addresses);
      state.services[service.name] = record;
      writeGridState(dir, state);
    }
    addresses[service.name] = record.address;
  }
  return gridStatus(home);
}

export function gridStatus(home: string): GridStatus {
  const dir = gridDir(home);
  const state = readGridState(dir);
  const services: GridStatus['services'] = {};
  for (const service of GRID_SERVICES) {
    const record = state.services[service.name];
    if (record)
      services[service.name] = {
        ...record,
        running: isGridProcess(record),
        hint: service.hint(record.address),
      };
  }
  return { dir, services };
}

/** Stops the grid's own processes (SIGTERM, then SIGKILL after 10 s); with `purge`, deletes the grid folder. */
export async function gridDown(home: string, purge: boolean): Promise<string[]> {
  const dir = gridDir(home);
  if (!existsSync(dir)) return [];
  const state = readGridState(dir);
  const stopped: string[] = [];
  for (const [name, record] of Object.entries(state.services)) {
    if (!isGridProcess(record)) continue;
    signal(record.pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (isGridProcess(record) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    if (isGridProcess(record)) signal(record.pid, 'SIGKILL');
    stopped.push(name);
  }
  if (purge) rmSync(dir, { recursive: true, force: true });
  else writeGridState(dir, { services: {} });
  return stopped;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // It ended between the check and the signal: nothing left to stop.
  }
}
