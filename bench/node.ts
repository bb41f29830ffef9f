/*
 * The node agent on the namespace grid (docs/grid.md), as root, in one run:
 *   1. relay round trip and throughput between twins through the grid's relay (twins in the
 *      host namespace, relay in the core one): the user asking the node for `node.stats`
 *      (the node's handling included), and a bare twin-to-twin echo;
 *   2. time from `vdc deploy` to the container running, image cached on the node (target
 *      under 1 s): the whole CLI, and the same deployment sent in-process, split into the
 *      ledger's part (contract.create until proven) and the node's (deployment.deploy);
 *   3. the agent's memory (VmRSS) idle and with 50 containers, the containers' own memory,
 *      and the time to deploy the 50.
 * Everything is real: ledger, relay and node are `bin/vdc` processes in their own network
 * namespaces; containers are crun with cgroup limits. Writes bench/results/node.json.
 *
 *   node bench/node.ts [--requests N] [--messages N] [--deploys N] [--deployments N] [--per N]
 *                      [--dir DIR (the grid's folder, kept)]
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type GridNode, type GridTwin, type NetnsGrid, startNetnsGrid } from '../src/grid/index.ts';
import { openKeystore } from '../src/identity/index.ts';
import type { Workload } from '../src/node/index.ts';
import { contractFor, sendDeployment, serveBusyboxImage } from '../test/support/container-grid.ts';
import { type BenchRow, printTable, writeResults } from './support/bench-report.ts';
import { latencyRow, percentile } from './support/latency.ts';
import {
  containerCpuNs,
  containerMemory,
  cpuPercent,
  procMemory,
} from './support/process-stats.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '500' },
    messages: { type: 'string', default: '2000' },
    deploys: { type: 'string', default: '10' },
    deployments: { type: 'string', default: '5' },
    per: { type: 'string', default: '10' },
    /** the grid's folder, kept afterwards (logs); default a temporary one, removed */
    dir: { type: 'string' },
  },
});
const REQUESTS = Number(values.requests);
const MESSAGES = Number(values.messages);
const DEPLOYS = Number(values.deploys);
const DEPLOYMENTS = Number(values.deployments);
const PER = Number(values.per);
const WINDOW = 64;
const CONTAINER_MEMORY = 16 * 2 ** 20;
const TARGET_MS = 1000;
const MiB = 2 ** 20;

const missing = ['ip', 'crun', 'busybox', 'nsenter'].filter(
  (c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0,
);
if (process.getuid?.() !== 0 || missing.length > 0) {
  console.error(
    process.getuid?.() !== 0
      ? 'bench/node.ts needs root: it makes network namespaces, a bridge and crun containers (run it as root)'
      : `bench/node.ts needs ${missing.join(', ')} on PATH (scripts/setup installs them)`,
  );
  process.exit(2);
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await fn();
  return [v, performance.now() - t0];
}

async function withWindow(total: number, one: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next++ < total) await one();
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, total) }, worker));
  return (performance.now() - t0) / 1000;
}

/** The first request can race a directory that has not yet seen a new twin: retry briefly. */
async function firstAnswer(fn: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await fn();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function crunRoot(node: GridNode): string {
  return join(node.dataDir, 'crun');
}

function crunList(node: GridNode): { id: string; pid: number; status: string }[] {
  const r = spawnSync('crun', ['--root', crunRoot(node), 'list', '--format', 'json'], {
    encoding: 'utf8',
  });
  return r.status === 0 && r.stdout.trim() !== '' ? JSON.parse(r.stdout) : [];
}

const VDC = new URL('../bin/vdc', import.meta.url).pathname;

/**
 * Runs `vdc deploy` as `twin` and times it: the whole command, and when its progress line
 * "contract N created" came (everything before the node is asked: process start, keystore
 * unlock, ledger sync, relay login, contract.create until proven).
 */
function cliDeploy(
  twin: GridTwin,
  node: GridNode,
  file: string,
): Promise<{ ms: number; createdMs: number; contract: number }> {
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: twin.home, ...twin.env };
  const t0 = performance.now();
  let createdMs = Number.NaN;
  let stdout = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    const child = spawn(VDC, ['deploy', '--node', String(node.id), file], {
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (Number.isNaN(createdMs) && /contract \d+ created/.test(stderr))
        createdMs = performance.now() - t0;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      const contract = Number(/deployed contract (\d+)/.exec(stdout)?.[1]);
      if (code !== 0 || !contract)
        reject(new Error(`vdc deploy failed (${code}): ${stderr}${stdout}`));
      else resolve({ ms, createdMs, contract });
    });
  });
}

function sleeper(url: string, sha256: string, name: string): Workload {
  return {
    name,
    kind: 'container',
    spec: {
      image: { url, sha256 },
      resources: { cpu: 100, memory: CONTAINER_MEMORY },
      entrypoint: ['/bin/sh', '-c', 'while true; do sleep 1; done'],
    },
  };
}

/** The in-process deployment, split into the ledger's part and the node's part (ms). */
async function deployDirect(
  node: GridNode,
  twin: GridTwin,
  workloads: Workload[],
): Promise<{ contract: number; ledgerMs: number; nodeMs: number; okMs: number }> {
  const t0 = performance.now();
  const { contract, deployment } = await contractFor(node, twin, workloads);
  const t1 = performance.now();
  const view = await sendDeployment(node, twin, deployment);
  const t2 = performance.now();
  // The node answers once every workload is applied: ok, or the deployment was refused.
  const bad = view.workloads.find((w) => w.state !== 'ok');
  if (bad) throw new Error(`contract ${contract}: workload ${bad.name} is ${bad.state}`);
  return { contract, ledgerMs: t1 - t0, nodeMs: t2 - t1, okMs: t2 - t0 };
}

function summary(samples: number[]): { p50: number; max: number; min: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), max: sorted.at(-1) ?? 0, min: sorted[0] ?? 0 };
}

const loads: Record<string, number[]> = {};
function noteLoad(when: string): void {
  loads[when] = loadavg().map((l) => Number(l.toFixed(2)));
  console.log(`load average ${when}: ${loads[when]!.join(' ')}`);
}

async function main(): Promise<void> {
  noteLoad('before');
  const t0 = performance.now();
  const grid = await startNetnsGrid({
    nodes: 1,
    ...(values.dir === undefined ? {} : { dir: values.dir }),
    // The bench measures the relay, not its per-connection rate limit (docs/relay.md).
    relayArgs: ['--rate-messages', '1000000', '--rate-burst-messages', '1000000'],
  });
  const stopOnSignal = () => void grid.teardown().finally(() => process.exit(130));
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    await run(grid, performance.now() - t0);
  } finally {
    await grid.teardown();
  }
}

async function run(grid: NetnsGrid, gridStartMs: number): Promise<void> {
  const node = grid.nodes[0]!;
  const pid = node.pid!;
  const comm = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, 3).join(' ');
  console.log(
    `grid ${grid.run.id} up in ${(gridStartMs / 1000).toFixed(1)} s; node agent pid ${pid} (${comm})`,
  );

  // 3a. The agent idle, fresh: registered, reporting, nothing deployed.
  await new Promise((r) => setTimeout(r, 2000));
  const idleFresh = procMemory(pid);
  const idleFreshCpu = await cpuPercent(pid, 3000);

  // 1. Relay round trips and throughput.
  const user = grid.user;
  const [echoA, echoB] = await Promise.all([grid.newTwin('echo-a'), grid.newTwin('echo-b')]);
  echoB.relay.handle((m) => m.body);
  const body = 'x'.repeat(256);
  await Promise.all([
    user.relay.ready(10_000),
    echoA.relay.ready(10_000),
    echoB.relay.ready(10_000),
  ]);
  await firstAnswer(() => node.request(user, 'node.stats'));
  await firstAnswer(() => echoA.relay.request(echoB.id, body));
  for (let i = 0; i < 100; i++) {
    await node.request(user, 'node.stats');
    await echoA.relay.request(echoB.id, body);
  }
  const statsRtt: number[] = [];
  const echoRtt: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    statsRtt.push((await timed(() => node.request(user, 'node.stats')))[1]);
    echoRtt.push((await timed(() => echoA.relay.request(echoB.id, body)))[1]);
  }
  const statsSeconds = await withWindow(MESSAGES / 2, () =>
    node.request(user, 'node.stats', undefined, 60_000),
  );
  const echoSeconds = await withWindow(MESSAGES, () =>
    echoA.relay.request(echoB.id, body, { timeoutMs: 60_000 }),
  );
  let received = 0;
  let allIn: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    allIn = resolve;
  });
  echoB.relay.onMessage(() => {
    if (++received === MESSAGES) allIn();
  });
  const oneWayStart = performance.now();
  await withWindow(MESSAGES, () => echoA.relay.send(echoB.id, 'note', body, { timeoutMs: 60_000 }));
  await done;
  const oneWaySeconds = (performance.now() - oneWayStart) / 1000;
  noteLoad('after the relay runs');
  const latency = [
    latencyRow('user → node.stats → user (node handling included)', statsRtt),
    latencyRow('twin → twin echo (256 B)', echoRtt),
  ];
  const throughput: BenchRow[] = [
    {
      test: `node.stats requests, ${WINDOW} in flight`,
      count: MESSAGES / 2,
      seconds: statsSeconds,
      'msg/s': Math.round(MESSAGES / 2 / statsSeconds),
    },
    {
      test: `twin echo requests, ${WINDOW} in flight`,
      count: MESSAGES,
      seconds: echoSeconds,
      'msg/s': Math.round(MESSAGES / echoSeconds),
    },
    {
      test: `twin one-way messages, ${WINDOW} in flight`,
      count: MESSAGES,
      seconds: oneWaySeconds,
      'msg/s': Math.round(MESSAGES / oneWaySeconds),
    },
  ];
  printTable('Relay round trip through the grid relay (host ns ↔ core ns ↔ node ns)', latency);
  printTable('Relay throughput through the grid relay', throughput);
  await echoA.closeRelay();
  await echoB.closeRelay();

  // 2. vdc deploy to running, image cached.
  const image = await serveBusyboxImage(grid);
  const url = image.url;
  const file = join(grid.dir, 'sleeper.json');
  writeFileSync(file, JSON.stringify({ workloads: [sleeper(url, image.sha256, 'app')] }));
  await user.closeRelay(); // the CLI logs in as the user

  // What the CLI spends before it talks to anyone: starting Node and the CLI, and scrypt.
  const startup: number[] = [];
  const unlock: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    spawnSync(VDC, ['--version'], { stdio: 'ignore' });
    startup.push(performance.now() - t);
    unlock.push(
      (await timed(() => openKeystore(join(user.home, 'identity.json'), user.passphrase)))[1],
    );
  }
  const contracts: number[] = [];
  const checkedCli = async () => {
    const d = await cliDeploy(user, node, file);
    const state = crunList(node).find((c) => c.id === `c${d.contract}-app`)?.status;
    if (state !== 'running') throw new Error(`container of contract ${d.contract} is ${state}`);
    contracts.push(d.contract);
    return d;
  };
  const first = await checkedCli(); // fetches the image and caches it
  const cli = [];
  for (let i = 0; i < DEPLOYS; i++) cli.push(await checkedCli());
  const direct = [];
  for (let i = 0; i < DEPLOYS; i++) {
    const d = await deployDirect(node, user, [sleeper(url, image.sha256, 'app')]);
    direct.push(d);
    contracts.push(d.contract);
  }
  const ten = await deployDirect(
    node,
    user,
    Array.from({ length: PER }, (_, i) => sleeper(url, image.sha256, `w${i}`)),
  );
  contracts.push(ten.contract);
  const row = (part: string, samples: number[]): BenchRow => {
    const x = summary(samples);
    return { part, runs: samples.length, 'p50 ms': x.p50, 'max ms': x.max };
  };
  const deployRows: BenchRow[] = [
    row('vdc deploy, first (image fetched and unpacked)', [first.ms]),
    row(
      'vdc deploy, image cached: whole command',
      cli.map((d) => d.ms),
    ),
    row(
      '  start → "contract N created"',
      cli.map((d) => d.createdMs),
    ),
    row(
      '  "contract N created" → exit (node deploys)',
      cli.map((d) => d.ms - d.createdMs),
    ),
    row('  for reference: `vdc --version` (process start)', startup),
    row('  for reference: keystore unlock (scrypt N=2^17)', unlock),
    row(
      'in-process: contract.create until proven',
      direct.map((d) => d.ledgerMs),
    ),
    row(
      'in-process: deployment.deploy → ok response',
      direct.map((d) => d.nodeMs),
    ),
    row(
      'in-process: both (create + sign + deploy)',
      direct.map((d) => d.okMs),
    ),
    row(`in-process: deployment.deploy of ${PER} containers`, [ten.nodeMs]),
  ];
  printTable(
    `Deploy to running, 1 container, busybox image cached on the node; target ${TARGET_MS} ms`,
    deployRows,
  );
  noteLoad('after the deploy runs');

  // Back to no containers, then 3b. idle again, warmed up.
  for (const contract of contracts)
    await node.request(user, 'deployment.delete', { contract }, 60_000);
  const leftover = crunList(node).length;
  if (leftover > 0) throw new Error(`${leftover} container(s) still listed after every delete`);
  await new Promise((r) => setTimeout(r, 2000));
  const idleWarm = procMemory(pid);
  const idleWarmCpu = await cpuPercent(pid, 3000);

  // 3c. 50 containers.
  const total = DEPLOYMENTS * PER;
  const manyStart = performance.now();
  const many = [];
  for (let d = 0; d < DEPLOYMENTS; d++)
    many.push(
      await deployDirect(
        node,
        user,
        Array.from({ length: PER }, (_, i) => sleeper(url, image.sha256, `s${i}`)),
      ),
    );
  const manySeconds = (performance.now() - manyStart) / 1000;
  const running = crunList(node).filter((c) => c.status === 'running');
  if (running.length !== total)
    throw new Error(`${running.length} containers running, expected ${total}`);
  await new Promise((r) => setTimeout(r, 3000));
  const loaded = procMemory(pid);
  const cpuBefore = running.reduce((n, c) => n + containerCpuNs(c.pid), 0);
  const cpuWindow = performance.now();
  const loadedCpu = await cpuPercent(pid, 3000);
  const containersCpu =
    (running.reduce((n, c) => n + containerCpuNs(c.pid), 0) - cpuBefore) /
    1e6 /
    (performance.now() - cpuWindow);
  const statsWithMany: number[] = [];
  for (let i = 0; i < 50; i++)
    statsWithMany.push((await timed(() => node.request(user, 'node.stats')))[1]);
  const memories = running.map((c) => containerMemory(c.pid));
  noteLoad(`with ${total} containers`);
  const memRow = (
    when: string,
    m: { rss: number; hwm: number },
    cpu: { own: number; withChildren: number },
  ): BenchRow => ({
    when,
    'VmRSS MiB': m.rss,
    'VmHWM MiB': m.hwm,
    'CPU %': cpu.own,
    'CPU % with crun': cpu.withChildren,
  });
  const memoryRows: BenchRow[] = [
    memRow('idle, fresh (nothing deployed yet)', idleFresh, idleFreshCpu),
    memRow('idle, after the runs above (0 containers)', idleWarm, idleWarmCpu),
    memRow(`${total} containers running`, loaded, loadedCpu),
  ];
  printTable(
    'Node agent process: memory (/proc/PID/status) and CPU over 3 s (% of one core; "with crun": its children too)',
    memoryRows,
  );
  const containerRows: BenchRow[] = [
    {
      containers: `${total} (${DEPLOYMENTS} deployments × ${PER}, 16 MiB limit each)`,
      'deploy s': manySeconds,
      'ms each': (manySeconds * 1000) / total,
      'cgroup MiB, sum': memories.reduce((n, m) => n + m.cgroup, 0) / MiB,
      'process RSS MiB, sum': memories.reduce((n, m) => n + m.rss, 0) / MiB,
      'CPU %, sum': containersCpu * 100,
    },
  ];
  printTable('The containers themselves (sh + `sleep 1` loop each)', containerRows);
  const statsRow = latencyRow(`node.stats with ${total} containers running`, statsWithMany);
  printTable('Relay round trip under load', [statsRow]);

  const cliP50 = Number(deployRows[1]!['p50 ms']);
  const nodeP50 = Number(deployRows[7]!['p50 ms']);
  console.log(
    `\nvdc deploy, image cached: p50 ${cliP50.toFixed(0)} ms (target ${TARGET_MS} ms: ${cliP50 < TARGET_MS ? 'met' : 'missed'}); the node's part p50 ${nodeP50.toFixed(0)} ms (${nodeP50 < TARGET_MS ? 'met' : 'missed'})`,
  );
  const results = {
    gridStartSeconds: gridStartMs / 1000,
    relay: { payloadBytes: 256, latency, throughput, withContainers: statsRow },
    deploy: {
      targetMs: TARGET_MS,
      rows: deployRows,
      cliIncludes:
        "start of Node and the CLI, keystore unlock (scrypt), ledger sync with the user's verifying follower, relay login, contract.create until proven in a signed head, sealing and signing, deployment.deploy, deployment.get polls (every 0.5 s) until ok, exit",
      cliP50UnderTarget: cliP50 < TARGET_MS,
      nodeP50UnderTarget: nodeP50 < TARGET_MS,
    },
    agent: { memory: memoryRows, containers: containerRows },
    loadAverage: loads,
  };
  console.log(`wrote ${writeResults('node', results)}`);
}

await main();
