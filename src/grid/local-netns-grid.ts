import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fail } from '../core/assert.ts';
import { VdcError } from '../core/errors.ts';
import { toHex } from '../core/hex.ts';
import type { Identity } from '../identity/index.ts';
import { type LedgerClient, loadOrCreateLedgerKey } from '../ledger/index.ts';
import { loadNodeIdentity } from '../node/index.ts';
import { buildBusyboxImage, fileSha256 } from './busybox-image.ts';
import { VDC_BIN } from './grid-node.ts';
import {
  type GridState,
  isGridProcess,
  processStartTicks,
  type ServiceRecord,
} from './grid-state.ts';
import { stopRecorded } from './host-service.ts';
import { type NetnsHost, NetnsRun } from './netns-run.ts';
import {
  LEDGER_PORT,
  ledgerAnswers,
  ledgerServeArgs,
  nodePaths,
  nodeServeArgs,
  RELAY_PORT,
  relayServeArgs,
  serviceEnv,
  tcpOpen,
  untilReady,
  writeEnrolGrant,
} from './netns-services.ts';
import { teardownRun } from './run-teardown.ts';

/*
 * Root's local grid (`vdc up` as root, docs/grid.md): one kept namespace run
 * (netns-run.ts) with a `core` host running the ledger, the relay and the image server on
 * its bridge address, and one host per node running `vdc node serve` enrolled in the
 * user's `demo` farm. Everything is recorded twice: in the run record (what teardown
 * removes: processes, containers, links, namespaces) and in grid.json (what `vdc status`
 * shows and what a second `vdc up` keeps). A second `up` resumes the run and starts only
 * what does not run; a run whose namespaces are gone (a reboot clears /run) is made again
 * on the same /24 when it is free, because its addresses are on the ledger (the relay the
 * nodes registered with, the gateway's tunnel address).
 */

export const IMAGES_PORT = 8332;
const READY_MS = 60_000;
/** Node data lives outside $VDC_HOME: containers must traverse to it (see nodesDataDir). */
const NODES_DATA_ROOT = '/var/lib/vdc-grid';

/** Debian packages of the tools root's grid runs. */
const TOOLS: readonly [tool: string, pkg: string][] = [
  ['ip', 'iproute2'],
  ['nsenter', 'util-linux'],
  ['crun', 'crun'],
  ['tar', 'tar'],
  ['openssl', 'openssl'],
];

export interface GridContext {
  home: string;
  dir: string;
  state: GridState;
  /** writes grid.json */
  save(): void;
  say(line: string): void;
}

export interface CoreUp {
  run: NetnsRun;
  core: NetnsHost;
  ledgerUrl: string;
  ledgerKey: string;
  relayUrl: string;
}

function onPath(tool: string, path: string): boolean {
  return path.split(':').some((d) => d !== '' && existsSync(join(d, tool)));
}

/**
 * Checks the tools root's grid needs before anything is made; `path` is where they are
 * looked for (the processes the grid starts inherit it).
 * @throws VdcError GRID_PREREQUISITE_MISSING naming the Debian packages to install
 */
export function checkPrerequisites(
  path = process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
  busybox = '/bin/busybox',
): void {
  const missing = TOOLS.filter(([tool]) => !onPath(tool, path)).map(([, pkg]) => pkg);
  // The demo image is built from the static busybox (dynamic ones need their libraries).
  if (!existsSync(busybox)) missing.push('busybox-static');
  if (missing.length > 0)
    fail(
      'GRID_PREREQUISITE_MISSING',
      `the local grid needs ${missing.join(', ')}: apt-get install -y ${missing.join(' ')}, then run 'vdc up' again`,
    );
}

/**
 * Where the nodes keep their data: /var/lib/vdc-grid/<12 hex of the grid folder's path>.
 * A container's root is an unprivileged host uid that must traverse every folder down to
 * its rootfs under the node's data (src/node/container-path.ts), and $VDC_HOME usually
 * sits under a 0700 home (/root); its modes are the user's, not ours to open.
 */
export function nodesDataDir(gridDir: string): string {
  const id = createHash('sha256').update(realpathSync(gridDir)).digest('hex').slice(0, 12);
  return join(NODES_DATA_ROOT, id);
}

/** Whether `path` is a grid's node data folder (`/var/lib/vdc-grid/` and 12 hex), the only kind `down --purge` deletes. */
export function isNodesDataDir(path: string): boolean {
  return /^\/var\/lib\/vdc-grid\/[0-9a-f]{12}$/.test(path);
}

/**
 * The nodes' data folder of the grid in `gridDir`: always derived from the folder, never
 * taken from grid.json, whose recorded value must agree.
 * @throws VdcError GRID_STATE_INVALID when grid.json names another folder
 */
export function gridNodesData(gridDir: string, state: GridState): string {
  const derived = nodesDataDir(gridDir);
  if (state.nodesData !== undefined && state.nodesData !== derived)
    fail(
      'GRID_STATE_INVALID',
      `${join(gridDir, 'grid.json')} names ${JSON.stringify(state.nodesData)} as the nodes' data, not ${derived}: it was not written by 'vdc up'; nothing was done`,
    );
  return derived;
}

async function openRun(ctx: GridContext): Promise<NetnsRun> {
  const known = ctx.state.netns;
  if (known) {
    try {
      return NetnsRun.resume(known.run, known.hosts);
    } catch (err) {
      if (!(err instanceof VdcError && err.code === 'GRID_RUN_NOT_FOUND')) throw err;
      ctx.say(`the grid's namespaces are gone (${err.message}): making them again`);
      await teardownRun(known.run).catch(() => {}); // whatever is left of it; nothing when the record is gone
      for (const [name, s] of Object.entries(ctx.state.services))
        if (s.namespace !== undefined) {
          if (isGridProcess(s)) await stopRecorded(s);
          delete ctx.state.services[name];
        }
      delete ctx.state.netns;
      ctx.save();
    }
  }
  ctx.say('making the network namespaces…');
  const run = NetnsRun.create(ctx.state.subnet ? { subnet: ctx.state.subnet } : {});
  const was = ctx.state.subnet;
  if (was !== undefined && run.subnet !== was) {
    // The nodes are on the ledger with the relay at the old core address, and `vdc node
    // serve` does not re-register it: deployments would reach no node. (The gateway would
    // follow: it runs with --update-registration.)
    await run.teardown();
    fail(
      'GRID_SUBNET_MOVED',
      `the grid's network ${was} is taken now (another grid, a VPN or a new route uses it), and its nodes are registered on the ledger with addresses in it: free it and run 'vdc up' again, or run 'vdc down --purge' and 'vdc up' for a fresh grid`,
    );
  }
  // Owned by this process until grid.json names it, so a crash right here is swept by the
  // next run; from then on kept, and only `vdc down` ends it.
  ctx.state.netns = { run: run.id, subnet: run.subnet, hosts: [] };
  ctx.state.subnet = run.subnet;
  ctx.save();
  run.keep();
  return run;
}

function hostOf(ctx: GridContext, run: NetnsRun, label: string): NetnsHost {
  const known = ctx.state.netns!.hosts.find((h) => h.label === label);
  if (known) return known;
  const host = run.addHost(label);
  ctx.state.netns!.hosts.push({ ...host });
  ctx.save();
  return host;
}

interface NsServiceSpec {
  command?: string;
  args: string[];
  log: string;
  env: Record<string, string>;
  cwd?: string;
  address: string;
  probe: () => Promise<boolean>;
}

/** Keeps `name` when it runs in `host`; else starts it there and waits until it answers. */
async function nsService(
  ctx: GridContext,
  run: NetnsRun,
  host: NetnsHost,
  name: string,
  spec: NsServiceSpec,
): Promise<ServiceRecord> {
  const known = ctx.state.services[name];
  if (known && isGridProcess(known)) {
    if (known.namespace === host.namespace) return known;
    ctx.say(`stopping the ${name} on ${known.address}: root's grid runs it in ${host.namespace}`);
    await stopRecorded(known);
  }
  ctx.say(`starting ${name} in ${host.namespace} (${host.address})…`);
  mkdirSync(dirname(spec.log), { recursive: true, mode: 0o700 });
  const proc = run.spawn(host, name, spec.command ?? VDC_BIN, spec.args, {
    log: spec.log,
    env: spec.env,
    ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
  });
  proc.unref(); // it outlives `vdc up`, in its own session
  const record: ServiceRecord = {
    namespace: host.namespace,
    pid: proc.pid,
    startTicks: processStartTicks(proc.pid) ?? '',
    address: spec.address,
    log: spec.log,
    startedAt: new Date().toISOString(),
  };
  ctx.state.services[name] = record;
  ctx.save();
  try {
    await untilReady(`the ${name}`, proc, READY_MS, spec.probe);
  } catch (err) {
    await proc.kill();
    delete ctx.state.services[name];
    ctx.save();
    throw err;
  }
  return record;
}

/**
 * The kept run, its core host, and the ledger and relay running there.
 * @throws VdcError GRID_SUBNET_MOVED, GRID_NOT_ROOT, GRID_NO_FREE_SUBNET, GRID_NETNS_COMMAND_FAILED, GRID_START_FAILED
 */
export async function upCore(ctx: GridContext): Promise<CoreUp> {
  const run = await openRun(ctx);
  const core = hostOf(ctx, run, 'core');
  const ledgerDir = join(ctx.dir, 'ledger');
  mkdirSync(ledgerDir, { recursive: true, mode: 0o700 });
  const keyFile = join(ledgerDir, 'ledger.key');
  const ledgerKey = toHex(loadOrCreateLedgerKey(keyFile).publicKey);
  ctx.state.ledgerKey = ledgerKey;
  const ledgerUrl = `http://${core.address}:${LEDGER_PORT}`;
  await nsService(ctx, run, core, 'ledger', {
    args: ledgerServeArgs({
      listen: `${core.address}:${LEDGER_PORT}`,
      db: join(ledgerDir, 'ledger.db'),
      keyFile,
    }),
    log: join(ledgerDir, 'ledger.log'),
    env: serviceEnv(join(ledgerDir, 'home')),
    address: ledgerUrl,
    probe: () => ledgerAnswers(ledgerUrl),
  });
  const relayUrl = `ws://${core.address}:${RELAY_PORT}`;
  const relayDir = join(ctx.dir, 'relay');
  await nsService(ctx, run, core, 'relay', {
    args: relayServeArgs({
      listen: `${core.address}:${RELAY_PORT}`,
      ledgerUrl,
      ledgerKey,
      data: relayDir,
    }),
    log: join(relayDir, 'relay.log'),
    env: serviceEnv(join(relayDir, 'home')),
    address: relayUrl,
    probe: () => tcpOpen(core.address, RELAY_PORT),
  });
  return { run, core, ledgerUrl, ledgerKey, relayUrl };
}

/**
 * The demo image (busybox) built once into the grid folder and served to the nodes from
 * the core host, as an image on any web server would be: the node fetches it by URL and
 * checks its digest.
 * @throws VdcError GRID_START_FAILED
 */
export async function upImages(
  ctx: GridContext,
  up: CoreUp,
): Promise<{ url: string; sha256: string }> {
  const folder = join(ctx.dir, 'images');
  const www = join(folder, 'www');
  mkdirSync(www, { recursive: true, mode: 0o700 });
  const tarball = join(www, 'busybox.tar.gz');
  if (!existsSync(tarball)) {
    ctx.say('building the demo image from /bin/busybox…');
    renameSync(buildBusyboxImage(folder).path, tarball);
  }
  const { core } = up;
  await nsService(ctx, up.run, core, 'images', {
    command: 'busybox',
    args: ['httpd', '-f', '-p', `${core.address}:${IMAGES_PORT}`, '-h', www],
    log: join(folder, 'images.log'),
    env: serviceEnv(folder),
    address: `http://${core.address}:${IMAGES_PORT}/`,
    probe: () => tcpOpen(core.address, IMAGES_PORT),
  });
  return {
    url: `http://${core.address}:${IMAGES_PORT}/busybox.tar.gz`,
    sha256: fileSha256(tarball),
  };
}

export interface GridNodeUp {
  label: string;
  id: number;
  address: string;
}

/**
 * `count` nodes, node1…nodeN, each in its own namespace, enrolled in `farm` with the
 * user's grant on their first start; waits until each is registered on the ledger.
 * @throws VdcError GRID_START_FAILED with the node's log tail
 */
export async function upNodes(
  ctx: GridContext,
  up: CoreUp,
  o: { farmer: Identity; client: LedgerClient; farm: number; count: number },
): Promise<GridNodeUp[]> {
  const dataRoot = gridNodesData(ctx.dir, ctx.state);
  ctx.state.nodesData = dataRoot;
  ctx.save();
  mkdirSync(dataRoot, { recursive: true, mode: 0o711 });
  chmodSync(NODES_DATA_ROOT, 0o711);
  chmodSync(dataRoot, 0o711);
  const view = o.client.follower;
  const starts = Array.from({ length: o.count }, async (_, i) => {
    const label = `node${i + 1}`;
    const host = hostOf(ctx, up.run, label);
    const paths = nodePaths(dataRoot, join(ctx.dir, 'nodes'), label);
    mkdirSync(dirname(paths.dataDir), { recursive: true, mode: 0o711 });
    chmodSync(dirname(paths.dataDir), 0o711);
    up.run.addContainerRoot(paths.crunRoot);
    const key = toHex(loadNodeIdentity(paths.dataDir).identity.signingPublicKey);
    await view.sync();
    const registered = view.view.nodeByKey(key) !== undefined;
    if (!registered)
      writeEnrolGrant(o.farmer, {
        ledger: view.ledger,
        farm: o.farm,
        nodeKey: key,
        path: paths.grant,
      });
    const registeredNow = async () => {
      await view.sync().catch(() => {}); // the ledger may be busy: the deadline decides
      return view.view.nodeByKey(key) !== undefined;
    };
    // Registered is not enough for a node that resumes (it was, before): it is up once it
    // says so, after its ledger, its farm and its relay checked out (`vdc node serve`'s line).
    const logFrom = existsSync(paths.log) ? statSync(paths.log).size : 0;
    const saysServing = () => {
      try {
        const text = readFileSync(paths.log).subarray(logFrom).toString('utf8');
        return /^node [0-9]+ \(twin [0-9]+\) in farm [0-9]+ (?:registered|resumed)/m.test(text);
      } catch {
        return false; // no log yet
      }
    };
    await nsService(ctx, up.run, host, label, {
      args: nodeServeArgs({
        dataDir: paths.dataDir,
        ledgerUrl: up.ledgerUrl,
        ledgerKey: up.ledgerKey,
        relayUrl: up.relayUrl,
        farm: o.farm,
        grant: registered ? undefined : paths.grant,
      }),
      log: paths.log,
      env: serviceEnv(join(dataRoot, label, 'home')),
      cwd: paths.dataDir,
      address: host.address,
      probe: async () => saysServing() && (await registeredNow()),
    });
    if (!(await registeredNow()))
      fail(
        'GRID_START_FAILED',
        `${label} runs but is not registered on the ledger: see ${paths.log}`,
      );
    return { label, id: view.view.nodeByKey(key)!.id, address: host.address };
  });
  return Promise.all(starts);
}
