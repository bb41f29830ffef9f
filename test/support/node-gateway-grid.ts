/*
 * A web gateway for tests of the node's `gateway` workloads, run in this process: on the
 * host's address on the namespace grid's bridge (which the nodes' namespaces reach),
 * registered by the grid's farmer and following the grid's ledger; or on loopback for the
 * in-process node grid. Plus
 * curl through it, and the forwarder processes of a node found by their socket.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonLogger } from '../../src/core/log.ts';
import {
  ensureGatewayRegistered,
  loadOrCreateTunnelCert,
  type RunningGateway,
  startGateway,
} from '../../src/gateway/index.ts';
import type { NetnsGrid } from '../../src/grid/index.ts';
import type { Identity } from '../../src/identity/index.ts';
import { LedgerClient } from '../../src/ledger/index.ts';

export const GRID_DOMAIN = 'gw.grid.test';

export interface GridGateway {
  id: number;
  running: RunningGateway;
  /** HOST:PORT of its public HTTP listener */
  http: string;
  /** brings the gateway's view up to the ledger's newest head */
  sync(): Promise<void>;
}

/** A gateway for tests, registered by `operator` (who holds a farm), following `ledgerUrl`. */
export async function startTestGateway(
  t: { after: (fn: () => unknown) => void },
  o: {
    host: string;
    ledgerUrl: string;
    ledgerKey?: string;
    operator: { client: LedgerClient; identity: Identity };
    farm?: number;
  },
): Promise<GridGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'vdc-test-gw-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cert = loadOrCreateTunnelCert(
    join(dir, 'tunnel.key'),
    join(dir, 'tunnel.crt'),
    GRID_DOMAIN,
  );
  // The tunnel port is picked first, so the registered address is the one really listened on.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, o.host, r));
  const tunnelPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const reg = await ensureGatewayRegistered(o.operator.client, o.operator.identity, {
    domain: GRID_DOMAIN,
    tunnelAddress: `${o.host}:${tunnelPort}`,
    spkiSha256: cert.spkiSha256,
    ...(o.farm === undefined ? {} : { farm: o.farm }),
  });
  const client = await LedgerClient.connect({
    url: o.ledgerUrl,
    home: join(dir, 'home'),
    ...(o.ledgerKey ? { ledgerKey: o.ledgerKey } : {}),
  });
  const running = await startGateway({
    follower: client.follower,
    gateway: reg.id,
    domain: GRID_DOMAIN,
    http: { host: o.host, port: 0 },
    https: { host: o.host, port: 0 },
    tunnel: { host: o.host, port: tunnelPort },
    key: cert.key,
    cert: cert.cert,
    logger: jsonLogger(() => {}),
    syncMs: 300,
  });
  t.after(() => running.close());
  return {
    id: reg.id,
    running,
    http: `${o.host}:${running.httpPort}`,
    sync: async () => {
      await client.follower.sync();
    },
  };
}

/** Starts a gateway on the host's bridge address, registered by the grid's farmer. */
export function startGridGateway(
  grid: NetnsGrid,
  t: { after: (fn: () => unknown) => void },
): Promise<GridGateway> {
  return startTestGateway(t, {
    host: grid.run.hostAddress,
    ledgerUrl: grid.ledgerUrl,
    ledgerKey: grid.ledgerKey,
    operator: grid.farmer,
  });
}

/**
 * curl through the gateway, `NAME.DOMAIN` as the Host: the status (0 when curl could not
 * connect) and the body. Asynchronous: the gateway runs in this process.
 */
export function curlName(
  gw: GridGateway,
  name: string,
  path = '/',
): Promise<{ status: number; body: string }> {
  const args = ['-s', '--max-time', '10', '-H', `Host: ${name}.${GRID_DOMAIN}`];
  args.push('-w', '\n%{http_code}', `http://${gw.http}${path}`);
  return new Promise((resolve) => {
    execFile('curl', args, { encoding: 'utf8' }, (_err, stdout) => {
      const out = stdout ?? '';
      const cut = out.lastIndexOf('\n');
      resolve({ status: Number(out.slice(cut + 1)) || 0, body: out.slice(0, Math.max(0, cut)) });
    });
  });
}

/** The pids of processes with an argument starting with `prefix` (a forwarder's socket path, a node's gateways folder). */
export function pidsWith(prefix: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmd.some((arg) => arg.startsWith(prefix))) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The real uid of process `pid`. */
export function uidOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
}
