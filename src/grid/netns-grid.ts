import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fail } from '../core/assert.ts';
import { VdcError } from '../core/errors.ts';
import { toHex } from '../core/hex.ts';
import { loadOrCreateLedgerKey } from '../ledger/index.ts';
import { loadNodeIdentity } from '../node/index.ts';
import { GridNode, VDC_BIN } from './grid-node.ts';
import {
  createGridTwin,
  type GridTwin,
  makeTwinKeys,
  type TwinContext,
  type TwinKeys,
} from './grid-twin.ts';
import type { NetnsProcess } from './netns-process.ts';
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

/*
 * A whole grid on one machine as root (DESIGN §13, docs/grid.md): a bridge the host
 * namespace sits on, a `core` namespace running the ledger and the relay on its bridge
 * address, and N node namespaces each running `vdc node serve`, enrolled in the farmer's
 * farm. The farmer and the user are twins with homes of their own, so the CLI works as
 * them. Tests talk only to bridge addresses. teardown() removes every namespace, link and
 * process of the run; if the test process dies instead, the next grid's sweep does.
 */

const DEFAULT_READY_MS = 60_000;

export interface GridNodeSpec {
  /** extra `vdc node serve` flags for this node, e.g. ['--fence-after', '5'] */
  args?: string[];
}

/** What node:test's TestContext offers that the grid uses. */
export interface GridTestContext {
  after(fn: () => unknown): void;
  readonly passed?: boolean;
}

export interface NetnsGridOptions {
  /** how many nodes, or one spec per node */
  nodes: number | GridNodeSpec[];
  /** the grid's folder (logs, data, homes); default a fresh one under the temp dir, removed at teardown */
  dir?: string;
  /** extra `vdc node serve` flags for every node, before each node's own */
  nodeArgs?: string[];
  /** extra `vdc relay serve` flags, e.g. ['--rate-messages', '5'] */
  relayArgs?: string[];
  /** the ledger's `--heartbeat` in ms (default the ledger's own) */
  ledgerHeartbeatMs?: number;
  /** how long each service and node may take to be ready; default 60 s */
  readyTimeoutMs?: number;
  /** registers teardown after the test, printing every log's tail when it failed */
  test?: GridTestContext;
}

export interface NetnsGrid {
  run: NetnsRun;
  dir: string;
  /** the namespace of the ledger and the relay */
  core: NetnsHost;
  ledgerUrl: string;
  /** the ledger's public key (hex), pinned by everyone in the grid */
  ledgerKey: string;
  relayUrl: string;
  ledger: NetnsProcess;
  relay: NetnsProcess;
  farm: number;
  farmer: GridTwin;
  user: GridTwin;
  nodes: GridNode[];
  /** another twin with a home and relay client, e.g. an attacker or a second user */
  newTwin(label: string): Promise<GridTwin>;
  /** another host on the bridge, e.g. an HTTP server of images */
  addNamespace(label: string): NetnsHost;
  /** runs `command` inside `host`, its output in `<dir>/<name>.log`; stopped at teardown */
  spawn(host: NetnsHost, name: string, command: string, args: string[]): NetnsProcess;
  /** the last lines of every process's log */
  logTails(lines?: number): string;
  teardown(): Promise<void>;
}

/**
 * Starts a grid: bridge, core namespace with ledger and relay, farmer and user twins, a
 * farm, and `nodes` node namespaces each running a registered node agent.
 * @throws VdcError GRID_NOT_ROOT, GRID_NO_FREE_SUBNET, GRID_NETNS_COMMAND_FAILED,
 *   GRID_START_FAILED (naming the process and the tail of its log); nothing is left behind
 */
export async function startNetnsGrid(opts: NetnsGridOptions): Promise<NetnsGrid> {
  const specs: GridNodeSpec[] =
    typeof opts.nodes === 'number' ? Array.from({ length: opts.nodes }, () => ({})) : opts.nodes;
  const readyMs = opts.readyTimeoutMs ?? DEFAULT_READY_MS;
  const run = NetnsRun.create();
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `vdc-grid-${run.id}-`));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const closers: (() => Promise<void>)[] = [];
  let tornDown = false;
  const logTails = (lines = 30) =>
    run.processes
      .map((p) => `--- ${p.name} (${p.namespace}) ${p.log}\n${p.tail(lines)}`)
      .join('\n');
  const teardown = async () => {
    if (tornDown) return;
    tornDown = true;
    for (const close of closers.reverse()) await close().catch(() => {});
    await run.teardown();
  };

  try {
    // Keystores take a while (scrypt): made while the services boot.
    const twinsDir = join(dir, 'twins');
    const keys = {
      farmer: makeTwinKeys(twinsDir, 'farmer', true),
      user: makeTwinKeys(twinsDir, 'user', true),
    };
    for (const k of Object.values(keys)) k.catch(() => {}); // awaited below, or moot after a failure
    const core = run.addHost('core');
    const coreDir = join(dir, 'core');
    mkdirSync(coreDir, { recursive: true, mode: 0o700 });
    const keyFile = join(coreDir, 'ledger.key');
    const ledgerKey = toHex(loadOrCreateLedgerKey(keyFile).publicKey);
    const ledgerUrl = `http://${core.address}:${LEDGER_PORT}`;
    const relayUrl = `ws://${core.address}:${RELAY_PORT}`;
    const ledger = run.spawn(
      core,
      'ledger',
      VDC_BIN,
      ledgerServeArgs({
        listen: `${core.address}:${LEDGER_PORT}`,
        db: join(coreDir, 'ledger.db'),
        keyFile,
        heartbeatMs: opts.ledgerHeartbeatMs,
      }),
      { log: join(coreDir, 'ledger.log'), env: serviceEnv(join(coreDir, 'ledger-home')) },
    );
    await untilReady('the ledger', ledger, readyMs, () => ledgerAnswers(ledgerUrl));
    const relay = run.spawn(
      core,
      'relay',
      VDC_BIN,
      relayServeArgs({
        listen: `${core.address}:${RELAY_PORT}`,
        ledgerUrl,
        ledgerKey,
        data: join(coreDir, 'relay'),
        extra: opts.relayArgs,
      }),
      { log: join(coreDir, 'relay.log'), env: serviceEnv(join(coreDir, 'relay-home')) },
    );
    await untilReady('the relay', relay, readyMs, () => tcpOpen(core.address, RELAY_PORT));

    const twinCtx: TwinContext = { ledgerUrl, ledgerKey, relayUrl, dir: twinsDir };
    const newTwin = async (label: string, made?: Promise<TwinKeys>): Promise<GridTwin> => {
      if (tornDown) fail('GRID_TORN_DOWN', `grid run ${run.id} was torn down: start a new one`);
      const twinKeys = await (made ?? makeTwinKeys(twinsDir, label, true));
      const twin = await createGridTwin(twinCtx, label, twinKeys);
      closers.push(() => twin.close());
      return twin;
    };
    // The harness's own twin checks that nodes answer, so no test twin's relay login is used.
    const [farmer, user, prober] = await Promise.all([
      newTwin('farmer', keys.farmer),
      newTwin('user', keys.user),
      newTwin('probe', makeTwinKeys(twinsDir, 'probe', false)),
    ]);
    await prober.relay.ready(readyMs);
    const farm = (await farmer.client.submit(farmer.identity, 'farm.create', { name: 'grid' }))
      .created['farms']!;

    const nodes = specs.map((spec, i) => {
      const index = i + 1;
      const host = run.addHost(`node${index}`);
      const paths = nodePaths(join(dir, 'nodes'), join(dir, 'nodes'), host.label);
      run.addContainerRoot(paths.crunRoot);
      const { identity } = loadNodeIdentity(paths.dataDir);
      // Containers' user namespaces walk down to their rootfs under the node's data
      // (docs/node-containers.md): the folders above it are traverse-only, never listable.
      for (const d of [dir, join(dir, 'nodes'), join(dir, 'nodes', host.label)])
        chmodSync(d, 0o711);
      const key = toHex(identity.signingPublicKey);
      writeEnrolGrant(farmer.identity, {
        ledger: farmer.client.follower.ledger,
        farm,
        nodeKey: key,
        path: paths.grant,
      });
      const args = (first: boolean) =>
        nodeServeArgs({
          dataDir: paths.dataDir,
          ledgerUrl,
          ledgerKey,
          relayUrl,
          farm,
          grant: first ? paths.grant : undefined,
          extra: [...(opts.nodeArgs ?? []), ...(spec.args ?? [])],
        });
      return new GridNode({
        run,
        host,
        index,
        dataDir: paths.dataDir,
        log: paths.log,
        key,
        args,
        env: serviceEnv(join(dir, 'nodes', host.label, 'home')),
        farmer,
        prober,
        readyTimeoutMs: readyMs,
      });
    });
    await Promise.all(nodes.map((n) => n.start()));

    const grid: NetnsGrid = {
      run,
      dir,
      core,
      ledgerUrl,
      ledgerKey,
      relayUrl,
      ledger,
      relay,
      farm,
      farmer,
      user,
      nodes,
      newTwin: async (label) => {
        if (!/^[a-z][a-z0-9-]{0,19}$/.test(label) || ['farmer', 'user', 'probe'].includes(label))
          fail(
            'GRID_NAME_INVALID',
            `twin label must be a new [a-z][a-z0-9-]{0,19}, got ${JSON.stringify(label)}`,
          );
        return newTwin(label);
      },
      addNamespace: (label) => run.addHost(label),
      spawn: (host, name, command, args) => {
        if (!/^[a-z0-9][a-z0-9._-]{0,39}$/.test(name))
          fail(
            'GRID_NAME_INVALID',
            `process name must be a plain file name, got ${JSON.stringify(name)}`,
          );
        return run.spawn(host, name, command, args, {
          log: join(dir, `${name}.log`),
          env: serviceEnv(join(dir, `${name}-home`)),
        });
      },
      logTails,
      async teardown() {
        await teardown();
        if (ownDir) rmSync(dir, { recursive: true, force: true });
      },
    };
    const t = opts.test;
    t?.after(async () => {
      const failed = t.passed === false;
      // The logs say why a grid test failed: print them, and keep the folder to look at.
      if (failed) process.stderr.write(`grid ${run.id} logs (kept in ${dir}):\n${logTails()}\n`);
      await teardown();
      if (ownDir && !failed) rmSync(dir, { recursive: true, force: true });
    });
    return grid;
  } catch (err) {
    const tails = logTails(15);
    await teardown().catch(() => {});
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    if (err instanceof VdcError && err.code.startsWith('GRID_')) throw err;
    fail('GRID_START_FAILED', `the grid did not come up: ${(err as Error).message}\n${tails}`, err);
  }
}
