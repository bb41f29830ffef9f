/*
 * The web gateway (docs/gateway.md): requests per second and p50/p99 latency of a small
 * HTTP response, measured with wrk, for
 *   - client → backend directly (plain HTTP, and HTTPS);
 *   - client → our gateway (http mode) → tunnel → backend, against Debian's nginx as an
 *     HTTP reverse proxy to the same backend, with its default proxy_pass (a new backend
 *     connection per request) and with upstream keepalive (as our gateway keeps its
 *     connections to the target alive, through the tunnel); and, for what a chain of two
 *     processes costs here whoever writes it, two nginx processes with a kept-alive TLS
 *     hop between them, and two bare node relays (TCP pipes, nothing parsed);
 *   - TLS passthrough: our gateway (SNI routing over the tunnel) against nginx's `stream`
 *     module with `ssl_preread`;
 * each loaded (--connections), and in a closed loop (--unloaded-connections) and paced on
 * one connection for the latency the proxy itself adds, with the CPU the proxy's processes
 * and the backend spent per request; the paced pass also read per request from the
 * scheduler's wake-ups (support/sched-trace.ts), after a count of how often the machine
 * itself stalls a running program (support/host-stalls.ts); and the memory one idle tunnel
 * and one open stream cost. The backend and the tunnel client and the gateway each run in their own process,
 * as in production (the ledger in this one; the memory figures use a gateway and tunnels
 * in this process). nginx runs one worker: our side is two processes (gateway, tunnel
 * client), all on the same cores as wrk and the backend.
 *
 * With BENCH_PROF=DIR, CPU profiles of the gateway and the tunnel client covering only our
 * rows are written to DIR.
 *
 * Needs wrk, nginx, libnginx-mod-stream and linux-perf (Debian), openssl, and root: wrk
 * sends the URL's host as SNI, so for passthrough it runs in a private mount namespace whose
 * /etc/hosts maps the bench names to loopback (the host's /etc/hosts is untouched).
 *
 *   node --expose-gc bench/gateway.ts [--seconds N] [--latency-seconds N] [--connections N]
 *     [--unloaded-connections N] [--only TEXT-IN-ROW-NAMES] [--two-hosts]
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { toHex } from '../src/core/hex.ts';
import { DOMAIN, startGatewayGrid } from '../src/gateway/gateway-test-kit.ts';
import { makeSelfSignedCert } from '../src/gateway/index.ts';
import { Identity } from '../src/identity/index.ts';
import { type BenchRow, printTable, writeResults } from './support/bench-report.ts';
import {
  backendRole,
  gatewayRole,
  jsonLines,
  relayRole,
  tunnelRole,
} from './support/gateway-roles.ts';
import { measureHostStalls } from './support/host-stalls.ts';
import { startNginxPeers } from './support/nginx.ts';
import type { RelayHop, RelaySide } from './support/node-relay.ts';
import { cpuSeconds } from './support/process-stats.ts';
import { chainRow, traceChain } from './support/sched-trace.ts';
import { runWrk, type WrkRun, writeWrkScript } from './support/wrk.ts';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    // the latency passes' runs: longer, as a p99 of a few thousand requests moves a lot
    'latency-seconds': { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    // the unloaded pass: few connections, so latency is the proxy's own, not queueing
    'unloaded-connections': { type: 'string', default: '1' },
    role: { type: 'string' },
    // --role relay: which side of the chain, the hop between the two, the port it relays to
    side: { type: 'string' },
    hop: { type: 'string' },
    target: { type: 'string' },
    only: { type: 'string' },
    // two hosts on one machine: the backend side (backend, tunnel client) on CPU 1, the
    // client side (wrk, our gateway, nginx) on CPU 0 — as the tunnel client runs on the
    // backend's machine in reality, not beside the gateway
    'two-hosts': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const LATENCY_SECONDS = Number(values['latency-seconds']);
const CONNECTIONS = Number(values.connections);
const UNLOADED = Number(values['unloaded-connections']);
const TWO_HOSTS = values['two-hosts'];

/** Pins a process and all its threads to one CPU (--two-hosts); a no-op otherwise. */
async function pin(pid: number | undefined, cpu: 0 | 1): Promise<void> {
  if (TWO_HOSTS && pid !== undefined)
    await run('taskset', ['-a', '-p', '-c', String(cpu), String(pid)]);
}
/** the paced latency pass: ms wrk waits after each answer before the next request */
const PACE_MS = 2;
/** BENCH_NODE_FLAGS: node flags for the gateway and tunnel processes (e.g. --trace-gc). */
const roleFlags = (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);

/**
 * One wrk run as a table row: req/s, wrk's p50 to p99.9 (and the raw ones with a raw
 * script), and the CPU the proxy's processes and the backend spent per request (µs), which,
 * unlike req/s, hardly moves with what else the shared host runs.
 */
async function wrk(
  name: string,
  load: Omit<WrkRun, 'seconds' | 'cpu'> & { seconds?: number },
  cpu: { proxy: number[]; backend: number },
): Promise<BenchRow & { requests: number }> {
  const before = new Map([...cpu.proxy, cpu.backend].map((pid) => [pid, cpuSeconds(pid)]));
  const r = await runWrk({ seconds: SECONDS, ...load, cpu: TWO_HOSTS ? 0 : undefined });
  const perReq = (pids: number[]) =>
    pids.length === 0
      ? '-'
      : Math.round(
          (pids.reduce((sum, pid) => sum + cpuSeconds(pid) - before.get(pid)!, 0) * 1e6) /
            r.requests,
        );
  return {
    requests: r.requests,
    path: name,
    'req/s': Math.round(r.rps),
    'p50 ms': r.latency.p50,
    'p90 ms': r.latency.p90,
    'p99 ms': r.latency.p99,
    'p99.9 ms': r.latency['p99.9'],
    'non-2xx': r.non2xx,
    'proxy CPU µs/req': perReq(cpu.proxy),
    // ours: the gateway's share + the tunnel client's share
    'split µs': cpu.proxy.length > 1 ? cpu.proxy.map((pid) => perReq([pid])).join('+') : '',
    'backend CPU µs/req': perReq([cpu.backend]),
    ...(r.socketErrors ? { 'socket errors': r.socketErrors } : {}),
    ...(r.raw
      ? {
          'raw p50 ms': r.raw.p50,
          'raw p90 ms': r.raw.p90,
          'raw p99 ms': r.raw.p99,
          'raw p99.9 ms': r.raw['p99.9'],
        }
      : {}),
  };
}

async function main(): Promise<void> {
  if (values.role === 'backend') return backendRole();
  if (values.role === 'tunnel') return tunnelRole();
  if (values.role === 'gateway') return gatewayRole();
  if (values.role === 'relay')
    return relayRole(values.side as RelaySide, values.hop as RelayHop, Number(values.target));
  const dir = mkdtempSync(join(tmpdir(), 'vdc-bench-gw-'));
  const cleanups: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => void cleanups.push(fn) };
  /** A role of this bench in its own process (support/gateway-roles.ts), stopped at the end. */
  const startRole = (
    role: string,
    o: { args?: string[]; env?: Record<string, string>; flags?: string[]; stdout?: 'inherit' } = {},
  ) => {
    const child = spawn(
      process.execPath,
      [...(o.flags ?? []), import.meta.filename, '--role', role, ...(o.args ?? [])],
      {
        env: { ...process.env, BENCH_DIR: dir, ...o.env },
        stdio: ['ignore', o.stdout ?? 'pipe', 'inherit'],
      },
    );
    cleanups.push(() => child.kill('SIGINT'));
    return child;
  };
  try {
    makeSelfSignedCert(join(dir, 'site.key'), join(dir, 'site.crt'), {
      cn: `tls.${DOMAIN}`,
      days: 1,
    });
    const backend = startRole('backend');
    const ports = (await jsonLines(backend)()) as { http: number; https: number };
    const grid = await startGatewayGrid(t, { heartbeatMs: 5_000 });
    const seed = randomBytes(64);
    const owner = Identity.fromSeed(seed);
    await grid.user.client.submit(owner, 'twin.create', {
      encryptionKey: toHex(owner.encryptionPublicKey),
      relays: [],
    });
    for (const [name, mode] of [
      ['bench', 'http'],
      ['tls', 'tls-passthrough'],
    ] as const)
      await grid.user.client.submit(owner, 'name.register', {
        name,
        gateway: grid.gatewayId,
        mode,
        rules: {},
        nodes: [],
      });
    await grid.sync();
    const gatewayProcess = startRole('gateway', {
      flags: roleFlags,
      env: {
        BENCH_LEDGER: grid.ledger.url,
        BENCH_HOME: join(dir, 'gateway-home'),
        BENCH_GATEWAY: String(grid.gatewayId),
        BENCH_KEY: join(grid.dir, 'tunnel.key'),
        BENCH_CERT: join(grid.dir, 'tunnel.crt'),
      },
    });
    const fromGateway = jsonLines(gatewayProcess);
    const gw = (await fromGateway()) as { httpPort: number; httpsPort: number; tunnelPort: number };
    const tunnel = startRole('tunnel', {
      flags: roleFlags,
      env: {
        BENCH_LEDGER: grid.ledger.url,
        BENCH_HOME: join(dir, 'tunnel-home'),
        BENCH_SEED: seed.toString('hex'),
        BENCH_TUNNEL_PORT: String(gw.tunnelPort),
        BENCH_TUNNELS: JSON.stringify([
          ['bench', ports.http],
          ['tls', ports.https],
        ]),
      },
      stdout: 'inherit', // prints nothing the bench reads; node flags' output shows
    });
    await fromGateway(); // ready: both names have their tunnel
    const hosts = join(dir, 'hosts');
    writeFileSync(hosts, `127.0.0.1 localhost bench.${DOMAIN} tls.${DOMAIN}\n`);
    const peers = await startNginxPeers(dir, ports, (stop) => cleanups.push(stop));
    const { worker, hopWorkers } = peers;
    // Two bare node relays, nothing parsed: the floor of two node processes, by the hop
    // between them (bench/support/node-relay.ts).
    const relay = async (side: RelaySide, hop: RelayHop, target: number) => {
      const child = startRole('relay', {
        args: ['--side', side, '--hop', hop, '--target', String(target)],
      });
      return { pid: child.pid!, port: Number((await jsonLines(child)()).port) };
    };
    const relays = new Map<RelayHop, { pids: number[]; port: number }>();
    for (const hop of ['tcp', 'tls', 'h2'] as const) {
      const inner = await relay('inner', hop, ports.http);
      const front = await relay('front', hop, inner.port);
      relays.set(hop, { pids: [front.pid, inner.pid], port: front.port });
    }
    const host = `bench.${DOMAIN}`;
    const rows: BenchRow[] = [];
    const ours = [gatewayProcess.pid!, tunnel.pid!];
    for (const [pid, cpu] of [
      [backend.pid, 1],
      [tunnel.pid, 1],
      [gatewayProcess.pid, 0],
      [peers.master, 0],
      [worker, 0],
      [hopWorkers[0], 0],
      [hopWorkers[1], 1],
      ...[...relays.values()].flatMap(({ pids }) => [[pids[0], 0] as const, [pids[1], 1] as const]),
    ] as const)
      await pin(pid, cpu);
    const runs: [string, string, number[], string?][] = [
      ['http: client → backend', `http://127.0.0.1:${ports.http}/`, []],
      ['http: → vdc gateway → tunnel → backend', `http://${host}:${gw.httpPort}/`, ours],
      ['http: → nginx proxy → backend', `http://127.0.0.1:${peers.ports.proxy}/`, [worker], host],
      [
        'http: → nginx proxy, upstream keepalive → backend',
        `http://127.0.0.1:${peers.ports.keepalive}/`,
        [worker],
        host,
      ],
      [
        'http: → nginx → TLS → nginx → backend (two processes, kept alive)',
        `http://127.0.0.1:${peers.ports.chain}/`,
        hopWorkers,
        host,
      ],
      ...(
        [
          ['tcp', 'TCP'],
          ['tls', 'TLS'],
          ['h2', 'HTTP/2 over TLS'],
        ] as const
      ).map(([hop, what]): [string, string, number[], string] => [
        `http: → node relay → ${what} → node relay → backend (bare pipes)`,
        `http://127.0.0.1:${relays.get(hop)!.port}/`,
        relays.get(hop)!.pids,
        host,
      ]),
      ['tls: client → backend', `https://tls.${DOMAIN}:${ports.https}/`, []],
      [
        'tls: → vdc gateway passthrough → tunnel → backend',
        `https://tls.${DOMAIN}:${gw.httpsPort}/`,
        ours,
      ],
      [
        'tls: → nginx stream ssl_preread → backend',
        `https://tls.${DOMAIN}:${peers.ports.stream}/`,
        [worker],
      ],
    ];
    const selected = runs.filter(
      ([name]) => values.only === undefined || name.includes(values.only),
    );
    const tailScript = writeWrkScript(dir, 'tail', { raw: false });
    for (const [name, url, proxy, hostHeader] of selected) {
      const profiled = name.includes('vdc') && process.env['BENCH_PROF'] !== undefined;
      if (profiled) {
        gatewayProcess.kill('SIGUSR2');
        tunnel.kill('SIGUSR2');
      }
      const cpu = { proxy, backend: backend.pid! };
      const load = { url, host: hostHeader, hostsFile: hosts, script: tailScript };
      const { requests: _, ...row } = await wrk(name, { ...load, connections: CONNECTIONS }, cpu);
      rows.push(row);
      if (profiled) {
        gatewayProcess.kill('SIGUSR2');
        tunnel.kill('SIGUSR2');
      }
    }
    printTable(`gateway: ${CONNECTIONS} connections, ${SECONDS} s each (wrk)`, rows);

    // What the proxy itself adds to a request's latency, against the direct path: closed
    // loop on few connections (wrk as fast as it can: on 2 cores that alone keeps every
    // process of the chain busy), and paced — one connection waiting PACE_MS after each
    // answer (wrk's `delay` hook), so nothing queues and no core is saturated. Both with
    // wrk's percentiles (corrected for coordinated omission) and the raw ones.
    const rawScript = writeWrkScript(dir, 'raw', { raw: true });
    const paceScript = writeWrkScript(dir, 'paced', { raw: true, paceMs: PACE_MS });
    // The paced pass is also read from the scheduler's wake-ups (support/sched-trace.ts):
    // what the proxies added to each request, the backend's own leg left out.
    const traced: BenchRow[] = [];
    const latencyPass = async (connections: number, script: string, trace = false) => {
      const out: BenchRow[] = [];
      const direct: Record<string, BenchRow> = {};
      for (const [name, url, proxy, hostHeader] of selected) {
        const cpu = { proxy, backend: backend.pid! };
        const load = { url, host: hostHeader, hostsFile: hosts, script, connections };
        const tracing = trace && proxy.length > 0 ? await traceChain(dir, backend.pid!) : undefined;
        const row = await wrk(name, { ...load, seconds: LATENCY_SECONDS }, cpu);
        if (tracing)
          traced.push(chainRow(name, row.requests, await tracing.stop(), [...proxy, backend.pid!]));
        const mode = name.slice(0, name.indexOf(':'));
        if (proxy.length === 0) direct[mode] = row;
        const base = direct[mode];
        const added = (k: string) =>
          base && proxy.length > 0 && row[k] !== undefined ? Number(row[k]) - Number(base[k]) : '-';
        out.push({
          path: name,
          'req/s': row['req/s']!,
          'p50 ms': row['p50 ms']!,
          'p99 ms': row['p99 ms']!,
          'p99.9 ms': row['p99.9 ms']!,
          'raw p50 ms': row['raw p50 ms'] ?? '-',
          'raw p99 ms': row['raw p99 ms'] ?? '-',
          'raw p99.9 ms': row['raw p99.9 ms'] ?? '-',
          'added p50 ms': added('p50 ms'),
          'added p99 ms': added('p99 ms'),
          'added raw p99 ms': added('raw p99 ms'),
          'proxy CPU µs/req': row['proxy CPU µs/req']!,
        });
      }
      return out;
    };
    // raw timing pairs each answer with its thread's last request: one connection a thread
    const unloaded = await latencyPass(UNLOADED, UNLOADED <= 2 ? rawScript : tailScript);
    printTable(`unloaded: ${UNLOADED} connection(s), ${LATENCY_SECONDS} s each (wrk)`, unloaded);
    // What the machine itself does to a chain's tail, just before the paced pass
    const stalls = await measureHostStalls(5, process.execPath);
    printTable('host: gaps a busy loop on each CPU saw (support/host-stalls.ts)', [{ ...stalls }]);
    const paced = await latencyPass(1, paceScript, true);
    printTable(
      `paced: 1 connection, ${PACE_MS} ms between requests, ${LATENCY_SECONDS} s each (wrk)`,
      paced,
    );
    printTable('paced, per request from the scheduler: what the proxies added (ms)', traced);

    // Memory: both ends of a tunnel live in this process, so the figures cover both.
    const gc = (globalThis as { gc?: () => void }).gc;
    const used = () => {
      gc?.();
      const m = process.memoryUsage();
      return { js: m.heapUsed + m.external + m.arrayBuffers, rss: m.rss };
    };
    const N = 200;
    await grid.registerName(grid.user, 'idle', 'http');
    const before = used();
    const tunnels = Array.from({ length: N }, () => grid.tunnel(grid.user, 'idle', ports.http));
    while (grid.gateway.pool.count('idle') < N) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    const afterTunnels = used();
    // The bench names' own tunnels go to the gateway process: one here for the streams.
    grid.tunnel(owner, 'bench', ports.http);
    while (grid.gateway.pool.count('bench') < 1) await new Promise((r) => setTimeout(r, 50));
    const beforeStreams = used();
    const streams = await Promise.all(
      Array.from({ length: N }, () => grid.gateway.pool.open('bench')),
    );
    await new Promise((r) => setTimeout(r, 300));
    const afterStreams = used();
    const kib = (a: { js: number; rss: number }, b: { js: number; rss: number }) => ({
      'JS KiB each': Math.round((b.js - a.js) / N / 1024),
      'RSS KiB each': Math.round((b.rss - a.rss) / N / 1024),
    });
    for (const s of streams) s.destroy();
    for (const tn of tunnels) tn.stop();
    const memory: BenchRow[] = [
      {
        what: 'idle tunnel (gateway and client end, one process)',
        ...kib(before, afterTunnels),
        gc: gc ? 'yes' : 'no',
      },
      {
        what: 'open CONNECT stream (gateway end)',
        ...kib(beforeStreams, afterStreams),
        gc: gc ? 'yes' : 'no',
      },
    ];
    printTable(`memory (${N} of each)`, memory);
    const path = writeResults('gateway', {
      twoHosts: TWO_HOSTS,
      seconds: SECONDS,
      latencySeconds: LATENCY_SECONDS,
      connections: CONNECTIONS,
      nodeFlags: roleFlags,
      rows,
      unloadedConnections: UNLOADED,
      unloaded,
      paceMs: PACE_MS,
      hostStalls: stalls,
      paced,
      traced,
      memory,
    });
    console.log(`\nresults: ${path}`);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
// The roles keep running until the bench stops them; the bench itself is done.
if (values.role === undefined) process.exit(0);
