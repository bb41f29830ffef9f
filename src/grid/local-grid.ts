import { existsSync, mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { VdcError } from '../core/errors.ts';
import { freeLoopbackPort } from '../core/free-port.ts';
import { toHex } from '../core/hex.ts';
import { readConfig, writeConfig } from '../core/vdc-config.ts';
import type { Identity } from '../identity/index.ts';
import { LedgerClient, ledgerId, loadOrCreateLedgerKey } from '../ledger/index.ts';
import { releaseClaimsUnder } from '../node/index.ts';
import { applyDemo } from './demo-vdc.ts';
import { checkGridFolder } from './grid-folder.ts';
import { upGateway } from './grid-gateway.ts';
import { lockGrid } from './grid-lock.ts';
import { upOperator } from './grid-operator.ts';
import { GRID_SERVICES, type GridService, serviceHint } from './grid-services.ts';
import {
  type DemoRecord,
  type GridState,
  isGridProcess,
  readGridState,
  type ServiceRecord,
  writeGridState,
} from './grid-state.ts';
import { freePort, startHostService, stopRecorded } from './host-service.ts';
import {
  checkPrerequisites,
  type GridContext,
  gridNodesData,
  isNodesDataDir,
  upCore,
  upImages,
  upNodes,
} from './local-netns-grid.ts';
import { teardownRun } from './run-teardown.ts';

/*
 * The local grid of `vdc up` (docs/grid.md), under `$VDC_HOME/grid`, recorded in grid.json.
 * Without root: the ledger and the relay on 127.0.0.1, the user's twin and a `demo` farm.
 * As root: the ledger, relay and image server in a core namespace, nodes each in their own
 * namespace, a web gateway, and the demo VDC applied as the user (local-netns-grid.ts,
 * grid-gateway.ts, demo-vdc.ts). `up` is idempotent (what runs is kept, nothing is
 * registered or deployed twice), `down` stops and removes exactly what `up` made, and
 * `down --purge` also deletes the grid's data.
 */

export const DEFAULT_NODES = 2;
export const MAX_NODES = 16;

export interface GridStatus {
  dir: string;
  /** whether this is root's grid (namespaces, nodes, gateway, demo) */
  root: boolean;
  services: Record<string, ServiceRecord & { running: boolean; hint: string }>;
  demo?: DemoRecord;
}

export interface GridUpOptions {
  identity: Identity;
  /** the user's keystore passphrase: the demo is applied with `vdc` commands run as the user */
  passphrase: string;
  /** nodes of root's grid; default 2 */
  nodes?: number;
  /**
   * Root's grid (namespaces, nodes, the gateway, the demo) or the loopback one (the ledger
   * and the relay on 127.0.0.1). The command passes whether it runs as root.
   */
  root: boolean;
  /** progress, one line at a time */
  say?: (line: string) => void;
}

export interface GridUpResult {
  status: GridStatus;
  /** the user's twin */
  twin: number;
  /** the `demo` farm: the user's without root; the grid farmer's as root (grid-operator.ts) */
  farm: number;
  /** as root: the grid farmer's twin, which owns the farm, its nodes and the gateway */
  farmer?: number;
}

export function gridDir(home: string): string {
  return join(home, 'grid');
}

/** The user's twin, registered unless it exists. */
async function ensureTwin(client: LedgerClient, identity: Identity): Promise<number> {
  const twin = client.twinOf(identity);
  if (twin !== undefined) return twin;
  return (
    await client.submit(identity, 'twin.create', {
      encryptionKey: toHex(identity.encryptionPublicKey),
      relays: [],
    })
  ).created['twins']!;
}

/** The user's twin and their `demo` farm (the loopback grid's), registered unless they exist. */
async function ensureTwinAndFarm(
  client: LedgerClient,
  identity: Identity,
): Promise<{ twin: number; farm: number }> {
  const twin = await ensureTwin(client, identity);
  let farm = client.follower.view.farmsOf(twin)[0]?.id;
  if (farm === undefined)
    farm = (await client.submit(identity, 'farm.create', { name: 'demo' })).created['farms']!;
  return { twin, farm };
}

/**
 * Starts a loopback service on its preferred port when free, else on a free one. A port
 * found free can be taken before the service binds it (another grid starting at the same
 * time): the service then exits, and it is tried once more on another port.
 */
async function startOnFreePort(
  ctx: GridContext,
  service: GridService,
  addresses: Readonly<Record<string, string>>,
): Promise<ServiceRecord> {
  for (let attempt = 0; ; attempt++) {
    const port = attempt === 0 ? await freePort(service.preferredPort) : await freeLoopbackPort();
    const address = service.address(port);
    try {
      return await startHostService({
        name: service.name,
        args: service.args(ctx.dir, port, addresses),
        address,
        probe:
          service.probe === 'http'
            ? { http: address, ...(ctx.state.ledgerKey ? { key: ctx.state.ledgerKey } : {}) }
            : { tcp: { host: '127.0.0.1', port } },
        log: join(ctx.dir, service.name, `${service.name}.log`),
      });
    } catch (err) {
      if (attempt > 0 || !(err instanceof VdcError && err.code === 'GRID_START_FAILED')) throw err;
      ctx.say(`the ${service.name} did not come up on port ${port}: trying another port`);
    }
  }
}

/** Without root: the ledger and the relay on loopback. */
async function upLoopback(ctx: GridContext): Promise<string> {
  const addresses: Record<string, string> = {};
  const keyFile = join(ctx.dir, 'ledger', 'ledger.key');
  mkdirSync(join(ctx.dir, 'ledger'), { recursive: true, mode: 0o700 });
  ctx.state.ledgerKey = toHex(loadOrCreateLedgerKey(keyFile).publicKey);
  for (const service of GRID_SERVICES) {
    let record = ctx.state.services[service.name];
    if (!record || !isGridProcess(record)) {
      ctx.say(`starting ${service.name}…`);
      record = await startOnFreePort(ctx, service, addresses);
      ctx.state.services[service.name] = record;
      ctx.save();
    }
    addresses[service.name] = record.address;
  }
  return addresses['ledger']!;
}

/**
 * Brings the local grid up, keeping what runs, and registers (as root: deploys) only what
 * is not there yet.
 * @throws VdcError GRID_FOLDER_UNSAFE (as root, a folder not root's alone), GRID_STATE_INVALID,
 *   GRID_BUSY, GRID_PREREQUISITE_MISSING, GRID_SUBNET_MOVED, GRID_START_FAILED, GRID_DEMO_FAILED,
 *   GRID_NETNS_COMMAND_FAILED, GRID_NO_FREE_SUBNET, and the ledger's codes
 */
export async function gridUp(home: string, opts: GridUpOptions): Promise<GridUpResult> {
  const dir = gridDir(home);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  checkGridFolder(dir);
  const release = lockGrid(dir);
  try {
    return await up(home, dir, opts);
  } finally {
    release();
  }
}

async function up(home: string, dir: string, opts: GridUpOptions): Promise<GridUpResult> {
  const say = opts.say ?? (() => {});
  const ctx: GridContext = {
    home,
    dir,
    state: readGridState(dir),
    save: () => writeGridState(dir, ctx.state),
    say,
  };
  if (!opts.root) {
    say(
      'nodes, the gateway and the demo VDC need root (network namespaces): starting the ledger and the relay only',
    );
    const ledgerUrl = await upLoopback(ctx);
    const client = await LedgerClient.connect({
      url: ledgerUrl,
      home,
      ...(ctx.state.ledgerKey ? { ledgerKey: ctx.state.ledgerKey } : {}),
      say,
    });
    const { twin, farm } = await ensureTwinAndFarm(client, opts.identity);
    return { status: gridStatus(home), twin, farm };
  }

  checkPrerequisites();
  gridNodesData(dir, ctx.state); // a grid.json naming another nodes' folder: refused before anything starts
  const core = await upCore(ctx);
  const client = await LedgerClient.connect({
    url: core.ledgerUrl,
    home,
    ledgerKey: core.ledgerKey,
    say,
  });
  const twin = await ensureTwin(client, opts.identity);
  const operator = await upOperator(dir, core);
  const [image, gateway, nodes] = await Promise.all([
    upImages(ctx, core),
    upGateway(ctx, {
      ledgerUrl: core.ledgerUrl,
      ledgerKey: core.ledgerKey,
      tunnelHost: core.run.hostAddress,
      operator,
    }),
    upNodes(ctx, core, {
      farmer: operator.identity,
      client,
      farm: operator.farm,
      count: opts.nodes ?? DEFAULT_NODES,
    }),
  ]);
  await applyDemo(ctx, {
    client,
    identity: opts.identity,
    twin,
    userEnv: { VDC_HOME: home, HOME: home, VDC_PASSPHRASE: opts.passphrase },
    ledgerUrl: core.ledgerUrl,
    ledgerKey: core.ledgerKey,
    relayUrl: core.relayUrl,
    gateway,
    nodes,
    image,
  });
  return { status: gridStatus(home), twin, farm: operator.farm, farmer: operator.twin };
}

/** What the grid folder records, with each process checked to be still running. */
export function gridStatus(home: string): GridStatus {
  const dir = gridDir(home);
  const state = readGridState(dir);
  const services: GridStatus['services'] = {};
  for (const [name, record] of Object.entries(state.services))
    services[name] = {
      ...record,
      running: isGridProcess(record),
      hint: serviceHint(name, record.address),
    };
  return {
    dir,
    root: state.netns !== undefined,
    services,
    ...(state.demo && state.netns ? { demo: state.demo } : {}),
  };
}

/** Forgets the grid ledger's pin in $VDC_HOME/config, so a fresh grid (a new key) is trusted anew. */
function forgetLedgerPin(home: string, ledgerKey: string | undefined): void {
  if (!ledgerKey) return;
  const config = readConfig(home);
  const urls = Object.keys(config.ledgers).filter((u) => config.ledgers[u]!.key === ledgerKey);
  for (const url of urls) delete config.ledgers[url];
  if (urls.length > 0) writeConfig(home, config);
  rmSync(join(home, 'ledgers', ledgerId(Buffer.from(ledgerKey, 'hex'))), {
    recursive: true,
    force: true,
  });
}

/**
 * Stops the grid's own processes (SIGTERM, then SIGKILL after 10 s), and as root removes its
 * namespace run (processes, containers, links, namespaces, run record). With `purge`, also
 * deletes the grid folder, the nodes' data and the pin of the grid's ledger. Returns the
 * names of the services that were running.
 * @throws VdcError GRID_FOLDER_UNSAFE, GRID_STATE_INVALID (nothing done then), GRID_BUSY,
 *   GRID_TEARDOWN_INCOMPLETE naming what could not be removed
 */
export async function gridDown(home: string, purge: boolean): Promise<string[]> {
  const dir = gridDir(home);
  if (!existsSync(dir)) return [];
  checkGridFolder(dir);
  const release = lockGrid(dir);
  try {
    return await down(home, dir, purge);
  } finally {
    release(); // gone with the folder after a purge: nothing to release then
  }
}

async function down(home: string, dir: string, purge: boolean): Promise<string[]> {
  const state: GridState = readGridState(dir);
  // Checked before anything is stopped: a grid.json naming another folder was not ours.
  const nodesData = state.nodesData === undefined ? undefined : gridNodesData(dir, state);
  const stopped: string[] = [];
  for (const [name, record] of Object.entries(state.services))
    if (record.namespace === undefined && (await stopRecorded(record))) stopped.push(name);
  if (state.netns) {
    for (const [name, record] of Object.entries(state.services))
      if (record.namespace !== undefined && isGridProcess(record)) stopped.push(name);
    try {
      await teardownRun(state.netns.run);
    } catch (err) {
      // Gone already (a reboot clears /run, and the processes with it): nothing left to remove.
      if (!(err instanceof VdcError && err.code === 'GRID_RUN_NOT_FOUND')) throw err;
    }
  }
  if (purge) {
    if (nodesData !== undefined && isNodesDataDir(nodesData)) {
      rmSync(nodesData, { recursive: true, force: true });
      // The host-wide uid ranges its containers held (src/node/uid-slots.ts) go with them.
      releaseClaimsUnder(nodesData);
      try {
        rmdirSync(dirname(nodesData)); // /var/lib/vdc-grid, when no other grid uses it
      } catch {
        // Another grid's data is there (or it is gone already): it stays.
      }
    }
    rmSync(dir, { recursive: true, force: true });
    forgetLedgerPin(home, state.ledgerKey);
  } else {
    const { netns: _gone, ...kept } = state;
    writeGridState(dir, { ...kept, services: {} });
  }
  return stopped;
}
