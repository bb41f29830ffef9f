import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../core/hex.ts';
import { jsonLogger } from '../core/log.ts';
import { Identity } from '../identity/index.ts';
import type { NameRecord } from '../ledger/index.ts';
import {
  LedgerClient,
  type RunningLedger,
  signEnrolGrant,
  startLedgerServer,
} from '../ledger/index.ts';
import { ensureGatewayRegistered, type RunningGateway, startGateway } from './gateway-server.ts';
import { loadOrCreateTunnelCert, type TunnelCert } from './tunnel-cert.ts';
import { type RunningTunnel, startTunnel, type TunnelOptions } from './tunnel-client.ts';

/*
 * A gateway on loopback for tests: a real ledger, an operator twin with a farm and a
 * registered gateway, a user twin, and helpers to register names, enrol nodes and open
 * tunnels. Everything stops after the test.
 */

type T = { after: (fn: () => unknown) => void };

export const DOMAIN = 'gw.test';
const quiet = jsonLogger(() => {});

export interface Party {
  identity: Identity;
  client: LedgerClient;
  twin: number;
}

export interface GatewayGrid {
  ledger: RunningLedger;
  operator: Party;
  user: Party;
  gatewayId: number;
  gateway: RunningGateway;
  cert: TunnelCert;
  dir: string;
  newParty(): Promise<Party>;
  /** enrols a node in the operator's farm; returns its id and key */
  newNode(): Promise<{ id: number; identity: Identity }>;
  registerName(
    owner: Party,
    name: string,
    mode: NameRecord['mode'],
    rules?: NameRecord['rules'],
    nodes?: number[],
  ): Promise<void>;
  /** a tunnel run by `party` for `name` to `to` */
  tunnel(
    party: Party | Identity,
    name: string,
    to: number,
    extra?: Partial<TunnelOptions>,
  ): RunningTunnel;
  /** the user's follower has seen the latest head */
  sync(): Promise<void>;
}

function tempDir(t: T, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function startGatewayGrid(
  t: T,
  opts: {
    headersTimeoutMs?: number;
    helloTimeoutMs?: number;
    host?: string;
    /** how often the ledger signs a fresh head; tests keep it rare, the bench as deployed */
    heartbeatMs?: number;
  } = {},
): Promise<GatewayGrid> {
  // Every listener (ledger and gateway) binds `host`: loopback, or a namespace grid's bridge.
  const { host = '127.0.0.1', heartbeatMs = 60_000, ...gatewayOpts } = opts;
  const dir = tempDir(t, 'vdc-gw-');
  const ledger = await startLedgerServer({
    store: `sqlite:${join(dir, 'ledger.db')}`,
    listen: `${host}:0`,
    keyFile: join(dir, 'ledger.key'),
    logger: quiet,
    heartbeatMs,
  });
  t.after(() => ledger.close());
  const newParty = async (): Promise<Party> => {
    const identity = Identity.fromSeed(randomBytes(64));
    const client = await LedgerClient.connect({ url: ledger.url, home: tempDir(t, 'vdc-home-') });
    const receipt = await client.submit(identity, 'twin.create', {
      encryptionKey: toHex(identity.encryptionPublicKey),
      relays: [],
    });
    return { identity, client, twin: receipt.created['twins']! };
  };
  const operator = await newParty();
  const farm = (await operator.client.submit(operator.identity, 'farm.create', { name: 'edge' }))
    .created['farms']!;
  const user = await newParty();
  const cert = loadOrCreateTunnelCert(join(dir, 'tunnel.key'), join(dir, 'tunnel.crt'), DOMAIN);
  // The tunnel port is picked first, so the registered address is the one really listened on.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, host, r));
  const tunnelPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const { id: gatewayId } = await ensureGatewayRegistered(operator.client, operator.identity, {
    domain: DOMAIN,
    tunnelAddress: `${host}:${tunnelPort}`,
    spkiSha256: cert.spkiSha256,
  });
  await user.client.follower.sync();
  const follower = (await LedgerClient.connect({ url: ledger.url, home: tempDir(t, 'vdc-gwh-') }))
    .follower;
  const gateway = await startGateway({
    follower,
    gateway: gatewayId,
    domain: DOMAIN,
    http: { host, port: 0 },
    https: { host, port: 0 },
    tunnel: { host, port: tunnelPort },
    key: cert.key,
    cert: cert.cert,
    logger: quiet,
    syncMs: 300,
    ...gatewayOpts,
  });
  t.after(() => gateway.close());
  const grid: GatewayGrid = {
    ledger,
    operator,
    user,
    gatewayId,
    gateway,
    cert,
    dir,
    newParty,
    async newNode() {
      const identity = Identity.fromSeed(randomBytes(64));
      const client = await LedgerClient.connect({ url: ledger.url, home: tempDir(t, 'vdc-node-') });
      const enrol = signEnrolGrant(operator.identity, {
        ledger: client.follower.ledger,
        farm,
        nodeKey: toHex(identity.signingPublicKey),
        expires: Date.now() + 3_600_000,
      });
      const receipt = await client.submit(identity, 'node.register', {
        farm,
        encryptionKey: toHex(identity.encryptionPublicKey),
        relays: [],
        ...enrol,
      });
      return { id: receipt.created['nodes']!, identity };
    },
    async registerName(owner, name, mode, rules = {}, nodes = []) {
      const held = owner.client.follower.view.name(name);
      await owner.client.submit(owner.identity, held ? 'name.update' : 'name.register', {
        name,
        gateway: gatewayId,
        mode,
        rules,
        nodes,
      });
      await follower.sync();
    },
    tunnel(party, name, to, extra = {}) {
      const identity = party instanceof Identity ? party : party.identity;
      const running = startTunnel({
        view: () => user.client.follower.view,
        ledger: user.client.follower.ledger,
        identity,
        name,
        to: { host: '127.0.0.1', port: to },
        maxBackoffMs: 500,
        ...extra,
      });
      running.done.catch(() => {});
      t.after(() => running.stop());
      return running;
    },
    async sync() {
      await user.client.follower.sync();
      await follower.sync();
    },
  };
  return grid;
}

/** A plain HTTP backend on loopback answering `hello from NAME` plus what it saw. */
export async function startEchoBackend(
  t: T,
  label = 'backend',
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({
        from: label,
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive' });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { server, port: (server.address() as AddressInfo).port };
}
