import { writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fail } from '../core/assert.ts';
import { httpJson } from '../core/http-client.ts';
import type { Identity } from '../identity/index.ts';
import { signEnrolGrant } from '../ledger/index.ts';

/*
 * What the namespace grid of tests (netns-grid.ts) and the local grid of `vdc up`
 * (local-netns-grid.ts) both run, the same way: the ledger and the relay on the core
 * host's bridge address, node agents each in their own namespace enrolled with the
 * farmer's grant, and how each is known to be ready.
 */

export const LEDGER_PORT = 8330;
export const RELAY_PORT = 8331;
const DAY_MS = 86_400_000;

/** The environment of a grid process: PATH and a home of its own, nothing of the caller's. */
export function serviceEnv(
  home: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: home,
    VDC_HOME: home,
    ...extra,
  };
}

/** `vdc ledger serve` with a SQLite store. */
export function ledgerServeArgs(o: {
  listen: string;
  db: string;
  keyFile: string;
  heartbeatMs?: number | undefined;
}): string[] {
  return [
    'ledger',
    'serve',
    '--store',
    `sqlite:${o.db}`,
    '--listen',
    o.listen,
    '--key',
    o.keyFile,
    ...(o.heartbeatMs === undefined ? [] : ['--heartbeat', String(o.heartbeatMs)]),
  ];
}

/** `vdc relay serve`, pinning the ledger's key. */
export function relayServeArgs(o: {
  listen: string;
  ledgerUrl: string;
  ledgerKey: string;
  data: string;
  extra?: readonly string[] | undefined;
}): string[] {
  return [
    'relay',
    'serve',
    '--listen',
    o.listen,
    '--ledger',
    o.ledgerUrl,
    '--ledger-key',
    o.ledgerKey,
    '--data',
    o.data,
    ...(o.extra ?? []),
  ];
}

/** `vdc node serve`; `grant` only on the start that registers the node. */
export function nodeServeArgs(o: {
  dataDir: string;
  ledgerUrl: string;
  ledgerKey: string;
  relayUrl: string;
  farm: number;
  grant?: string | undefined;
  extra?: readonly string[] | undefined;
}): string[] {
  return [
    'node',
    'serve',
    '--data',
    o.dataDir,
    '--ledger',
    o.ledgerUrl,
    '--ledger-key',
    o.ledgerKey,
    '--relay',
    o.relayUrl,
    '--farm',
    String(o.farm),
    ...(o.grant === undefined ? [] : ['--grant', o.grant]),
    ...(o.extra ?? []),
  ];
}

/**
 * Signs the farmer's enrolment grant for `nodeKey` (what `vdc farm enrol` prints) into
 * `path`, valid for a week.
 */
export function writeEnrolGrant(
  farmer: Identity,
  o: { ledger: string; farm: number; nodeKey: string; path: string },
): void {
  const grant = signEnrolGrant(farmer, {
    ledger: o.ledger,
    farm: o.farm,
    nodeKey: o.nodeKey,
    expires: Date.now() + 7 * DAY_MS,
  });
  writeFileSync(o.path, `${JSON.stringify(grant)}\n`, { mode: 0o600 });
}

/** Where a node keeps its things: data, crun state (teardown finds containers there), log, grant. */
export function nodePaths(
  dataRoot: string,
  logRoot: string,
  label: string,
): { dataDir: string; log: string; grant: string; crunRoot: string } {
  return {
    dataDir: join(dataRoot, label, 'data'),
    // The node's container runtime keeps crun's state in <data>/crun
    // (src/node/container-runtime.ts); if that moves, teardown stops finding containers.
    crunRoot: join(dataRoot, label, 'data', 'crun'),
    log: join(logRoot, label, `${label}.log`),
    grant: join(dataRoot, label, 'grant.json'),
  };
}

/** Whether a TCP connection to host:port opens. */
export function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port }, () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Whether the ledger at `url` answers its description. */
export function ledgerAnswers(url: string): Promise<boolean> {
  return httpJson(`${url}/v1/ledger`, { timeoutMs: 1000 }).then(
    () => true,
    () => false,
  );
}

/** What waiting for a process needs to know of it. */
export interface Watched {
  readonly running: boolean;
  readonly exitCode: number | null | undefined;
  readonly log: string;
  tail(lines?: number): string;
}

/**
 * Polls `probe` until it answers true.
 * @throws VdcError GRID_START_FAILED when the process exits or `timeoutMs` passes, with its log's tail
 */
export async function untilReady(
  what: string,
  proc: Watched,
  timeoutMs: number,
  probe: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (!proc.running || Date.now() > deadline)
      fail(
        'GRID_START_FAILED',
        `${what} ${proc.running ? `did not answer within ${Math.round(timeoutMs / 1000)} s` : `exited with ${proc.exitCode}`}; the tail of ${proc.log}:\n${proc.tail(20)}`,
      );
    await sleep(100);
  }
}
