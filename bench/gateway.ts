/*
 * The web gateway (docs/gateway.md): requests per second and p50/p99 latency of a small
 * HTTP response, measured with wrk, for
 *   - client → backend directly (plain HTTP, and HTTPS);
 *   - client → our gateway (http mode) → tunnel → backend, against Debian's nginx as an
 *     HTTP reverse proxy to the same backend (its default proxy_pass: no upstream keepalive,
 *     like our one-stream-per-request forwarding);
 *   - TLS passthrough: our gateway (SNI routing over the tunnel) against nginx's `stream`
 *     module with `ssl_preread`;
 * and the memory one idle tunnel and one open stream cost. The backend and the tunnel
 * client each run in their own process, as in production; the gateway (and the ledger) in
 * this one.
 *
 * Needs wrk, nginx and libnginx-mod-stream (Debian), openssl, and root: wrk sends the URL's
 * host as SNI, so for passthrough it runs in a private mount namespace whose /etc/hosts maps
 * the bench names to loopback (the host's /etc/hosts is untouched).
 *
 *   node --expose-gc bench/gateway.ts [--seconds N] [--connections N]
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { toHex } from '../src/core/hex.ts';
import { DOMAIN, startGatewayGrid } from '../src/gateway/gateway-test-kit.ts';
import { makeSelfSignedCert } from '../src/gateway/index.ts';
import { Identity } from '../src/identity/index.ts';
import { type BenchRow, printTable, writeResults } from './support/bench-report.ts';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    role: { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const BODY = 'hello from the backend\n';

/** `--role tunnel`: the backend's tunnel client in its own process, as it runs in production. */
async function tunnelRole(): Promise<void> {
  const { Identity } = await import('../src/identity/index.ts');
  const { LedgerClient } = await import('../src/ledger/index.ts');
  const { startTunnel } = await import('../src/gateway/index.ts');
  const env = process.env as Record<string, string>;
  const client = await LedgerClient.connect({
    url: env['BENCH_LEDGER']!,
    home: env['BENCH_HOME']!,
  });
  const identity = Identity.fromSeed(Buffer.from(env['BENCH_SEED']!, 'hex'));
  process.on('SIGINT', () => process.exit(0)); // exits cleanly, so --cpu-prof is written
  for (const [name, port] of JSON.parse(env['BENCH_TUNNELS']!) as [string, number][])
    startTunnel({
      view: () => client.follower.view,
      ledger: client.follower.ledger,
      identity,
      name,
      to: { host: '127.0.0.1', port },
    }).done.catch((err) => console.error(err));
}

/** `--role backend`: plain HTTP and HTTPS servers answering BODY; prints their ports. */
async function backendRole(): Promise<void> {
  const { createServer: http } = await import('node:http');
  const { createServer: https } = await import('node:https');
  const handler = (_: unknown, res: import('node:http').ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
    res.end(BODY);
  };
  const a = http(handler);
  const dir = process.env['BENCH_DIR']!;
  const b = https(
    { key: readFileSync(join(dir, 'site.key')), cert: readFileSync(join(dir, 'site.crt')) },
    handler,
  );
  await new Promise<void>((r) => a.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => b.listen(0, '127.0.0.1', r));
  console.log(
    JSON.stringify({
      http: (a.address() as AddressInfo).port,
      https: (b.address() as AddressInfo).port,
    }),
  );
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function ms(value: string): number {
  const m = /^([0-9.]+)(us|ms|s)$/.exec(value);
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

/** Runs wrk (in the private-hosts namespace) and reads req/s, p50 and p99. */
async function wrk(name: string, url: string, hosts: string, host?: string): Promise<BenchRow> {
  const args = [
    '-t2',
    `-c${CONNECTIONS}`,
    `-d${SECONDS}s`,
    '--latency',
    ...(host ? ['-H', `Host: ${host}`] : []),
    url,
  ];
  const { stdout } = await run('unshare', [
    '-m',
    'sh',
    '-c',
    `mount --bind ${hosts} /etc/hosts && exec wrk ${args.map((a) => `'${a}'`).join(' ')}`,
  ]);
  const rps = Number(/Requests\/sec:\s+([0-9.]+)/.exec(stdout)?.[1]);
  const p50 = ms(/\s50%\s+(\S+)/.exec(stdout)?.[1] ?? '');
  const p99 = ms(/\s99%\s+(\S+)/.exec(stdout)?.[1] ?? '');
  const errors = /Non-2xx or 3xx responses: ([0-9]+)/.exec(stdout)?.[1] ?? '0';
  const socketErrors = /Socket errors: (.*)/.exec(stdout)?.[1] ?? '';
  return {
    path: name,
    'req/s': Math.round(rps),
    'p50 ms': p50,
    'p99 ms': p99,
    'non-2xx': Number(errors),
    ...(socketErrors ? { 'socket errors': socketErrors } : {}),
  };
}

function startNginx(dir: string, conf: string): ChildProcess {
  writeFileSync(join(dir, 'nginx.conf'), conf);
  return spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
}

async function main(): Promise<void> {
  if (values.role === 'backend') return backendRole();
  if (values.role === 'tunnel') return tunnelRole();
  const dir = mkdtempSync(join(tmpdir(), 'vdc-bench-gw-'));
  const cleanups: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => void cleanups.push(fn) };
  try {
    makeSelfSignedCert(join(dir, 'site.key'), join(dir, 'site.crt'), {
      cn: `tls.${DOMAIN}`,
      days: 1,
    });
    const backend = spawn(process.execPath, [import.meta.filename, '--role', 'backend'], {
      env: { ...process.env, BENCH_DIR: dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(() => backend.kill());
    const ports = await new Promise<{ http: number; https: number }>((resolve) =>
      backend.stdout!.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()))),
    );
    const grid = await startGatewayGrid(t);
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
    const tunnel = spawn(
      process.execPath,
      [
        ...(process.env['BENCH_PROF'] ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []),
        import.meta.filename,
        '--role',
        'tunnel',
      ],
      {
        env: {
          ...process.env,
          BENCH_LEDGER: grid.ledger.url,
          BENCH_HOME: join(dir, 'tunnel-home'),
          BENCH_SEED: seed.toString('hex'),
          BENCH_TUNNELS: JSON.stringify([
            ['bench', ports.http],
            ['tls', ports.https],
          ]),
        },
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    cleanups.push(() => tunnel.kill('SIGINT'));
    while (grid.gateway.pool.count('bench') < 1 || grid.gateway.pool.count('tls') < 1)
      await new Promise((r) => setTimeout(r, 50));
    const hosts = join(dir, 'hosts');
    writeFileSync(hosts, `127.0.0.1 localhost bench.${DOMAIN} tls.${DOMAIN}\n`);
    const nginxHttp = await freePort();
    const nginxStream = await freePort();
    const nginx = startNginx(
      dir,
      `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server { listen 127.0.0.1:${nginxHttp}; location / { proxy_pass http://127.0.0.1:${ports.http}; } }
}
stream {
  server { listen 127.0.0.1:${nginxStream}; ssl_preread on; proxy_pass 127.0.0.1:${ports.https}; }
}
`,
    );
    cleanups.push(() => nginx.kill());
    await new Promise((r) => setTimeout(r, 500));
    const host = `bench.${DOMAIN}`;
    const rows: BenchRow[] = [];
    rows.push(await wrk('http: client → backend', `http://127.0.0.1:${ports.http}/`, hosts));
    rows.push(
      await wrk(
        'http: → vdc gateway → tunnel → backend',
        `http://${host}:${grid.gateway.httpPort}/`,
        hosts,
      ),
    );
    rows.push(
      await wrk('http: → nginx proxy → backend', `http://127.0.0.1:${nginxHttp}/`, hosts, host),
    );
    rows.push(await wrk('tls: client → backend', `https://tls.${DOMAIN}:${ports.https}/`, hosts));
    rows.push(
      await wrk(
        'tls: → vdc gateway passthrough → tunnel → backend',
        `https://tls.${DOMAIN}:${grid.gateway.httpsPort}/`,
        hosts,
      ),
    );
    rows.push(
      await wrk(
        'tls: → nginx stream ssl_preread → backend',
        `https://tls.${DOMAIN}:${nginxStream}/`,
        hosts,
      ),
    );
    printTable(`gateway: ${CONNECTIONS} connections, ${SECONDS} s each (wrk)`, rows);

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
      seconds: SECONDS,
      connections: CONNECTIONS,
      rows,
      memory,
    });
    console.log(`\nresults: ${path}`);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
// The backend and tunnel roles keep running until the bench kills them; the bench is done.
if (values.role === undefined) process.exit(0);
