import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { JsonValue } from '../../src/core/canonical-json.ts';
import { toHex } from '../../src/core/hex.ts';
import { jsonLogger } from '../../src/core/log.ts';
import { Identity } from '../../src/identity/index.ts';
import { LedgerClient, type RunningLedger, signEnrolGrant } from '../../src/ledger/index.ts';
import {
  deploymentHash,
  loadNodeIdentity,
  type NodeAgent,
  type NodeAgentOptions,
  newSalt,
  signDeployment,
  startNodeAgent,
  type UnsignedDeployment,
  type Workload,
} from '../../src/node/index.ts';
import {
  openTwinDirectory,
  RelayClient,
  type RelayServer,
  startRelayServer,
} from '../../src/relay/index.ts';
import { startTestLedger, tempDir } from './ledger-fixture.ts';

export { hasCode } from './ledger-fixture.ts';

type T = { after: (fn: () => unknown) => void };

export const quiet = jsonLogger(() => {});

export interface GridTwin {
  id: number;
  identity: Identity;
  client: LedgerClient;
  relay: RelayClient;
}

export interface NodeGrid {
  ledger: RunningLedger;
  relay: RelayServer;
  ledgerId: string;
  farm: number;
  farmer: GridTwin;
  user: GridTwin;
  nodeData: string;
  nodeIdentity: Identity;
  agent: NodeAgent;
  /** starts (or restarts) the node agent on the same data folder */
  startAgent(extra?: Partial<NodeAgentOptions>): Promise<NodeAgent>;
  newTwin(): Promise<GridTwin>;
  /** between the node and the ledger, when asked for with `proxyLedger` */
  proxy: CutProxy | undefined;
}

export async function waitFor<V>(
  what: string,
  probe: () => V | undefined | false | Promise<V | undefined | false>,
  timeoutMs = 15_000,
): Promise<V> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An HTTP proxy on loopback that can cut a party off from the ledger, and let it back. */
export interface CutProxy {
  url: string;
  cut(cut: boolean): void;
  /** when set, rewrites JSON answers (not the event stream): a ledger server that lies */
  rewrite: ((path: string, body: JsonValue) => JsonValue | undefined) | undefined;
}

export async function startCutProxy(t: T, target: string): Promise<CutProxy> {
  let isCut = false;
  const open = new Set<ServerResponse>();
  const proxy: CutProxy = {
    url: '',
    rewrite: undefined,
    cut(cut) {
      isCut = cut;
      if (cut) {
        for (const res of open) res.destroy();
        server.closeAllConnections();
      }
    },
  };
  const server = createServer((req, res) => {
    if (isCut) return void req.socket.destroy();
    open.add(res);
    res.on('close', () => open.delete(res));
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      const abort = new AbortController();
      res.on('close', () => abort.abort());
      const upstream = await fetch(`${target}${req.url}`, {
        method: req.method ?? 'GET',
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        signal: abort.signal,
        ...(body.length > 0 ? { body } : {}),
      });
      const type = upstream.headers.get('content-type') ?? 'application/json';
      res.writeHead(upstream.status, { 'content-type': type });
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (proxy.rewrite && type.startsWith('application/json')) {
        const body = JSON.parse(await upstream.text()) as JsonValue;
        return void res.end(JSON.stringify(proxy.rewrite(path, body) ?? body));
      }
      if (upstream.body) for await (const chunk of upstream.body) res.write(chunk);
      res.end();
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

export async function startNodeGrid(
  t: T,
  opts: Partial<NodeAgentOptions> & { proxyLedger?: boolean } = {},
): Promise<NodeGrid> {
  const { proxyLedger, ...agentOpts } = opts;
  const ledger = await startTestLedger(t, tempDir(t));
  const proxy = proxyLedger ? await startCutProxy(t, ledger.url) : undefined;
  const relayDir = await openTwinDirectory(ledger.url, { home: tempDir(t) });
  t.after(() => relayDir.close());
  const relay = await startRelayServer({
    host: '127.0.0.1',
    port: 0,
    directory: relayDir,
    logger: quiet,
  });
  t.after(() => relay.close());

  const newTwin = async (): Promise<GridTwin> => {
    const identity = Identity.fromSeed(randomBytes(64));
    const client = await LedgerClient.connect({ url: ledger.url, home: tempDir(t) });
    const receipt = await client.submit(identity, 'twin.create', {
      encryptionKey: toHex(identity.encryptionPublicKey),
      relays: [new URL(relay.url).href],
    });
    const id = receipt.created['twins']!;
    const directory = await openTwinDirectory(ledger.url, { home: tempDir(t) });
    t.after(() => directory.close());
    const rc = new RelayClient({
      url: relay.url,
      identity,
      twin: id,
      directory,
      dataDir: tempDir(t),
      reconnect: { minDelayMs: 20, maxDelayMs: 200 },
      requestTimeoutMs: 10_000,
      logger: quiet,
    });
    t.after(() => rc.close());
    await rc.ready(15_000);
    return { id, identity, client, relay: rc };
  };

  const farmer = await newTwin();
  const farm = (await farmer.client.submit(farmer.identity, 'farm.create', { name: 'north' }))
    .created['farms']!;
  const user = await newTwin();
  const nodeData = tempDir(t, 'vdc-node-');
  const nodeIdentity = loadNodeIdentity(nodeData).identity;
  const grant = signEnrolGrant(farmer.identity, {
    ledger: farmer.client.follower.ledger,
    farm,
    nodeKey: toHex(nodeIdentity.signingPublicKey),
    expires: Date.now() + 3_600_000,
  });
  const grid: Partial<NodeGrid> & { agent?: NodeAgent } = {};
  const startAgent = async (extra: Partial<NodeAgentOptions> = {}) => {
    const agent = await startNodeAgent({
      data: nodeData,
      ledgerUrl: proxy?.url ?? ledger.url,
      relayUrl: relay.url,
      farm,
      identity: loadNodeIdentity(nodeData).identity,
      grant,
      reportIntervalMs: 500,
      logger: quiet,
      ...agentOpts,
      ...extra,
    });
    t.after(() => agent.close());
    grid.agent = agent;
    return agent;
  };
  const agent = await startAgent();
  // The twins reach the node once their own followers know its twin.
  for (const twin of [farmer, user])
    await waitFor('the node twin in the directories', async () => {
      try {
        await twin.relay.request(agent.twin, { method: 'node.stats' }, { timeoutMs: 2000 });
        return true;
      } catch (err) {
        return (err as { code?: string }).code === 'NODE_API_FARMER_REFUSED';
      }
    });
  Object.assign(grid, {
    ledger,
    relay,
    ledgerId: farmer.client.follower.ledger,
    farm,
    farmer,
    user,
    nodeData,
    nodeIdentity,
    startAgent,
    newTwin,
    proxy,
  });
  return grid as NodeGrid;
}

/** A request to the node's API from `twin`. */
export function call(
  twin: GridTwin,
  agent: NodeAgent,
  method: string,
  params?: Record<string, JsonValue>,
): Promise<JsonValue> {
  return twin.relay.request(agent.twin, params === undefined ? { method } : { method, params }, {
    timeoutMs: 10_000,
  });
}

export function unsignedDeployment(
  twin: number,
  workloads: Workload[] = [],
  version = 1,
): UnsignedDeployment {
  return { version, twin, salt: newSalt(), workloads };
}

/** Creates a contract on the ledger for `doc` on `node`; returns its id. */
export async function createContract(
  twin: GridTwin,
  node: number,
  doc: UnsignedDeployment,
  expiresInMs = 86_400_000,
): Promise<number> {
  const receipt = await twin.client.submit(twin.identity, 'contract.create', {
    node,
    deploymentHash: deploymentHash(doc),
    deployment: randomBytes(48).toString('base64'),
    expiresAt: Date.now() + expiresInMs,
    networks: [],
  });
  return receipt.created['contracts']!;
}

/** Creates the contract and signs the deployment for it. */
export async function contractAndDeployment(
  grid: NodeGrid,
  twin: GridTwin = grid.user,
  workloads: Workload[] = [],
  opts: { waitForNode?: boolean } = {},
) {
  const unsigned = unsignedDeployment(twin.id, workloads);
  const contract = await createContract(twin, grid.agent.node, unsigned);
  // The node would catch up by itself (tested without this wait); on a loaded machine the
  // wait keeps its bounded catch-up from deciding a test.
  if (opts.waitForNode !== false)
    await waitFor('the node to follow the contract', () =>
      grid.agent.follower.view.contract(contract),
    );
  const deployment = signDeployment(twin.identity, unsigned, {
    ledger: grid.ledgerId,
    node: grid.agent.node,
    contract,
  });
  return { contract, unsigned, deployment };
}

/** Everything the node holds about deployments: the files under its data folder, and the engine's view. */
export function nodeState(grid: NodeGrid): string {
  const dir = join(grid.nodeData, 'deployments');
  const files = readdirSync(dir)
    .sort()
    .map((f) => `${f}:${readFileSync(join(dir, f), 'utf8')}`);
  return JSON.stringify({ files, engine: grid.agent.engine.all() });
}
