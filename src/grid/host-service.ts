import { spawn } from 'node:child_process';
import { closeSync, mkdirSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fail } from '../core/assert.ts';
import { freeLoopbackPort } from '../core/free-port.ts';
import { httpJson } from '../core/http-client.ts';
import { VDC_BIN } from './grid-node.ts';
import { isGridProcess, processStartTicks, type ServiceRecord } from './grid-state.ts';
import { openLog, tailOf } from './netns-process.ts';

/*
 * A service of the local grid that runs in the host's own network namespace: the ledger
 * and relay of the loopback grid (no root), and the gateway of root's grid, whose public
 * listener is on 127.0.0.1 for the browser. A background `vdc` process in its own session
 * (detached, so it outlives `vdc up` and no Ctrl-C of the terminal reaches it), its output
 * in a log file, recorded by pid and start time so `vdc down` stops exactly it.
 */

const READY_TIMEOUT_MS = 30_000;

export interface HostServiceSpec {
  name: string;
  args: string[];
  /** the process's whole environment; default PATH and HOME only */
  env?: Record<string, string>;
  /** what a person or client connects to, shown in `vdc status` */
  address: string;
  /**
   * readiness: the ledger's description over HTTP (with `key`, only when it presents that
   * key: another ledger that took the port first is not this one), or a TCP connect
   */
  probe: { http: string; key?: string } | { tcp: { host: string; port: number } };
  log: string;
}

async function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** `preferred` when nothing listens on it on 127.0.0.1, else a free port. */
export async function freePort(preferred: number): Promise<number> {
  return (await portIsFree(preferred)) ? preferred : freeLoopbackPort();
}

async function answers(probe: HostServiceSpec['probe']): Promise<boolean> {
  if ('http' in probe)
    return httpJson(`${probe.http}/v1/ledger`, { timeoutMs: 1000 }).then(
      (doc) => probe.key === undefined || (doc as { key?: unknown }).key === probe.key,
      () => false,
    );
  return new Promise((resolve) => {
    const socket = createConnection(probe.tcp, () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts the service in the background and waits until it answers.
 * @throws VdcError GRID_START_FAILED naming the service and the tail of its log
 */
export async function startHostService(spec: HostServiceSpec): Promise<ServiceRecord> {
  mkdirSync(dirname(spec.log), { recursive: true, mode: 0o700 });
  const out = openLog(spec.log);
  let spawnError: Error | undefined;
  const child = spawn(VDC_BIN, spec.args, {
    detached: true,
    stdio: ['ignore', out, out],
    env: spec.env ?? {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: process.env['HOME'] ?? '/',
    },
  });
  closeSync(out); // the child has its own copy
  child.once('error', (err) => {
    spawnError = err;
  });
  child.unref();
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await answers(spec.probe))) {
    if (spawnError || child.exitCode !== null || Date.now() > deadline) {
      // Never leave an unrecorded process behind: a second `up` would start another.
      if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
      fail(
        'GRID_START_FAILED',
        `the ${spec.name} did not come up (${spawnError?.message ?? (child.exitCode !== null ? `exited with ${child.exitCode}` : `no answer within ${READY_TIMEOUT_MS / 1000} s`)}); the tail of ${spec.log}:\n${tailOf(spec.log, 15)}\nfix what it says, then run 'vdc up' again`,
        spawnError,
      );
    }
    await sleep(100);
  }
  const startTicks = processStartTicks(child.pid!);
  if (startTicks === undefined)
    fail('GRID_START_FAILED', `the ${spec.name} exited right after starting (see ${spec.log})`);
  return {
    pid: child.pid!,
    startTicks,
    address: spec.address,
    log: spec.log,
    startedAt: new Date().toISOString(),
  };
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // It ended between the check and the signal: nothing left to stop.
  }
}

/**
 * Stops a recorded process (SIGTERM, then SIGKILL after `graceMs`) if it is still the one
 * recorded; returns whether it was running.
 */
export async function stopRecorded(record: ServiceRecord, graceMs = 10_000): Promise<boolean> {
  if (!isGridProcess(record)) return false;
  signal(record.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isGridProcess(record) && Date.now() < deadline) await sleep(50);
  if (isGridProcess(record)) signal(record.pid, 'SIGKILL');
  while (isGridProcess(record)) await sleep(20);
  return true;
}
