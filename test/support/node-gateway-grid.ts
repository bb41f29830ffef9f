/*
 * A web gateway for tests of the node's `gateway` workloads, run in this process: on the
 * host's address on the namespace grid's bridge (which the nodes' namespaces reach),
 * registered by the grid's farmer and following the grid's ledger; or on loopback for the
 * in-process node grid. Plus curl through it (plain, or over TLS verifying a test CA and
 * telling which certificate was served), a test CA issuing owners' certificates with the
 * openssl CLI, files holding a text, and the forwarder processes of a node found by their
 * socket.
 */

import assert from 'node:assert/strict';
import { type ExecFileSyncOptions, execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonLogger } from '../../src/core/log.ts';
import {
  certSha256,
  ensureGatewayRegistered,
  loadOrCreateTunnelCert,
  type RunningGateway,
  signTunnelGrant,
  startGateway,
} from '../../src/gateway/index.ts';
import type { NetnsGrid } from '../../src/grid/index.ts';
import type { Identity } from '../../src/identity/index.ts';
import { LedgerClient, type NameRecord } from '../../src/ledger/index.ts';
import { nodeRuntimes, type Workload } from '../../src/node/index.ts';
import { buildBusyboxImage } from './busybox-image.ts';
import { destroyContainers } from './container-grid.ts';
import { tempDir } from './ledger-fixture.ts';
import { type NodeGrid, startNodeGrid } from './node-fixture.ts';

export const GRID_DOMAIN = 'gw.grid.test';

export interface GridGateway {
  id: number;
  running: RunningGateway;
  /** HOST:PORT of its public HTTP listener */
  http: string;
  /** its public TLS listener */
  https: { host: string; port: number };
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
    https: { host: o.host, port: running.httpsPort },
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

/** What curl saw over TLS: status (0: no connection or not verified), body, the leaf's SHA-256. */
export interface TlsAnswer {
  status: number;
  body: string;
  /** SHA-256 of the leaf certificate the gateway presented ('' when none was seen) */
  leafSha256: string;
  /** curl's own error line, when it failed */
  error: string;
}

const MARK = '\n@@vdc-curl@@';

/**
 * curl over TLS to `NAME.DOMAIN` at the gateway's TLS listener (`--resolve` to its address),
 * verifying the server against `cacert` only; which certificate was served comes from
 * curl's `%{certs}` (curl 7.88+).
 */
export function curlNameTls(
  gw: GridGateway,
  name: string,
  cacert: string,
  path = '/',
): Promise<TlsAnswer> {
  const host = `${name}.${GRID_DOMAIN}`;
  const { port } = gw.https;
  const args = ['-sS', '--max-time', '10', '--cacert', cacert];
  args.push('--resolve', `${host}:${port}:${gw.https.host}`);
  args.push('-w', `${MARK}%{http_code}\n%{certs}`, `https://${host}:${port}${path}`);
  return new Promise((resolve) => {
    execFile('curl', args, { encoding: 'utf8' }, (_err, stdout, stderr) => {
      const out = stdout ?? '';
      const at = out.lastIndexOf(MARK);
      const tail = at < 0 ? '' : out.slice(at + MARK.length);
      const leaf = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(tail)?.[0];
      resolve({
        status: Number(/^\d+/.exec(tail)?.[0] ?? 0),
        body: at < 0 ? out : out.slice(0, at),
        leafSha256: leaf ? certSha256(leaf) : '',
        error: String(stderr ?? '').trim(),
      });
    });
  });
}

/** A certificate authority for tests, made with the openssl CLI (P-256, one day). */
export interface TestCa {
  dir: string;
  /** the CA's certificate: what clients pass as --cacert */
  certFile: string;
  keyFile: string;
}

/** An owner's certificate issued by the test CA. */
export interface IssuedCert {
  /** leaf then CA, PEM: what the gateway workload presents */
  chainFile: string;
  keyFile: string;
  /** SHA-256 of the leaf's DER: what the name pins */
  sha256: string;
  /** the private key's PEM text, to look for where it must never be */
  keyPem: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const QUIET: ExecFileSyncOptions = { stdio: ['ignore', 'ignore', 'pipe'] };

export function makeTestCa(dir: string): TestCa {
  const certFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'ca.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      ...EC,
      '-days',
      '1',
      '-subj',
      '/CN=VDC test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    QUIET,
  );
  return { dir, certFile, keyFile };
}

let issued = 0;

/** Issues a certificate for `host` (its subjectAltName), signed by `ca`. */
export function issueCert(ca: TestCa, host: string): IssuedCert {
  const base = join(ca.dir, `leaf-${++issued}`);
  execFileSync(
    'openssl',
    [
      'req',
      '-new',
      ...EC,
      '-subj',
      `/CN=${host}`,
      '-addext',
      `subjectAltName=DNS:${host}`,
      '-keyout',
      `${base}.key`,
      '-out',
      `${base}.csr`,
    ],
    QUIET,
  );
  execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      ca.certFile,
      '-CAkey',
      ca.keyFile,
      '-CAcreateserial',
      '-days',
      '1',
      '-copy_extensions',
      'copy',
      '-out',
      `${base}.crt`,
    ],
    QUIET,
  );
  const leaf = readFileSync(`${base}.crt`, 'utf8');
  writeFileSync(`${base}.chain.pem`, leaf + readFileSync(ca.certFile, 'utf8'));
  return {
    chainFile: `${base}.chain.pem`,
    keyFile: `${base}.key`,
    sha256: certSha256(leaf),
    keyPem: readFileSync(`${base}.key`, 'utf8'),
  };
}

/**
 * The files under `dir` (recursively, any content) holding one of the base64 lines of a
 * PEM private key: a plaintext key anywhere shows. Empty when none does.
 */
export function filesHoldingKey(dir: string, keyPem: string): string[] {
  const lines = keyPem.split('\n').filter((l) => /^[A-Za-z0-9+/=]{16,}$/.test(l));
  const args = ['-rlF', '-D', 'skip', '--binary-files=text'];
  for (const l of lines) args.push('-e', l);
  try {
    return execFileSync('grep', [...args, dir], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
  } catch (err) {
    if ((err as { status?: number }).status === 1) return []; // grep: nothing found
    throw err;
  }
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

/** The page the container of `startNodeGatewayGrid` serves. */
export const NODE_PAGE = 'inside the container';

/**
 * A short request deadline: the gateway's timer for a request it answers 502 (no backend)
 * is not cleared and would hold the test's process for the default 300 s.
 */
export const NODE_RULES = { timeouts: { requestMs: 10_000 } };

/**
 * The in-process node grid with the runtimes of `vdc node serve` (real crun containers),
 * a gateway on loopback, a busybox httpd container workload serving NODE_PAGE on
 * 127.0.0.1:8080 inside, and helpers for names, grants and gateway workloads. Everything
 * the node's runtimes and agent log goes to `logs`. Needs root, crun, busybox, nsenter.
 */
export async function startNodeGatewayGrid(t: import('node:test').TestContext) {
  const dir = tempDir(t, 'vdc-p4-images-');
  const image = buildBusyboxImage(dir);
  const tarball = readFileSync(image.path);
  const server = createHttpServer((req, res) => {
    if (req.url === '/busybox') res.end(tarball);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/busybox`;
  let crunRoot = '';
  t.after(() => crunRoot && destroyContainers(crunRoot));
  const grid: NodeGrid = await startNodeGrid(t);
  crunRoot = join(grid.nodeData, 'crun');
  const gw = await startTestGateway(t, {
    host: '127.0.0.1',
    ledgerUrl: grid.ledger.url,
    operator: grid.farmer,
    farm: grid.farm,
  });
  const logs: string[] = [];
  const logger = jsonLogger((line) => logs.push(line));
  // The same node again, now with the runtimes of `vdc node serve`.
  await grid.agent.close();
  const start = async () => {
    const runtimes = nodeRuntimes({ data: grid.nodeData, identity: grid.nodeIdentity, logger });
    assert.ok(runtimes.gateway, 'the gateway runtime is offered on this host');
    return grid.startAgent({ runtimes, logger });
  };
  await start();
  const node = grid.agent.node;
  const register = async (name: string, nodes: number[], rules: NameRecord['rules'] = {}) => {
    const held = grid.user.client.follower.view.name(name);
    await grid.user.client.submit(grid.user.identity, held ? 'name.update' : 'name.register', {
      name,
      gateway: gw.id,
      mode: 'http',
      rules: { ...NODE_RULES, ...rules },
      nodes,
    });
    await gw.sync();
  };
  const web: Workload = {
    name: 'web',
    kind: 'container',
    spec: {
      image: { url, sha256: image.sha256 },
      resources: { cpu: 100, memory: 32 * 2 ** 20 },
      entrypoint: [
        '/bin/sh',
        '-c',
        `echo '${NODE_PAGE}' > /etc/index.html; exec httpd -f -p 127.0.0.1:8080 -h /etc`,
      ],
    },
  };
  const grantFor = (terms: { name: string; node?: number }, by = grid.user.identity) =>
    signTunnelGrant(by, { ledger: grid.ledgerId, gateway: gw.id, node, ...terms });
  const gatewayWorkload = (
    name: string,
    grant: string,
    workload = 'web',
    tls?: { cert: string; key: string },
  ): Workload => ({
    name: 'web-gw',
    kind: 'gateway',
    spec: { name, gateway: gw.id, workload, port: 8080, grant, ...(tls ? { tls } : {}) },
  });
  return { grid, gw, node, register, web, grantFor, gatewayWorkload, start, logs };
}
