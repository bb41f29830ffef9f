import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DOMAIN } from '../../src/gateway/gateway-test-kit.ts';
import { type RelayHop, type RelaySide, startNodeRelay } from './node-relay.ts';

/*
 * The processes of bench/gateway.ts besides the bench itself (`--role NAME`): the backend,
 * the gateway and the tunnel client, each in its own process as in production, and the
 * bare relays. Each prints JSON lines on stdout for the bench (jsonLines); settings come in
 * BENCH_* variables.
 */

const BODY = 'hello from the backend\n';
const env = process.env as Record<string, string>;

/**
 * With BENCH_PROF=DIR, SIGUSR2 toggles a CPU profile of this process (written to DIR when
 * stopped), so a profile covers only the load run, not start-up and the ledger set-up.
 */
async function profileOnSignal(label: string): Promise<() => Promise<void>> {
  const dir = env['BENCH_PROF'];
  if (!dir) return async () => {};
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  let on = false;
  const toggle = async () => {
    if (!on) {
      on = true;
      await session.post('Profiler.start');
      return;
    }
    on = false;
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(join(dir, `${label}-${Date.now()}.cpuprofile`), JSON.stringify(profile));
  };
  process.on('SIGUSR2', () => void toggle());
  return toggle;
}

/** The backend's TLS key and certificate, which the bench made in BENCH_DIR. */
function siteTls(): { key: Buffer; cert: Buffer } {
  const dir = env['BENCH_DIR']!;
  return { key: readFileSync(join(dir, 'site.key')), cert: readFileSync(join(dir, 'site.crt')) };
}

/** The bench's ledger (BENCH_LEDGER), with this process's home (BENCH_HOME). */
async function benchLedger() {
  const { LedgerClient } = await import('../../src/ledger/index.ts');
  return LedgerClient.connect({ url: env['BENCH_LEDGER']!, home: env['BENCH_HOME']! });
}

/** `--role tunnel`: the backend's tunnel client in its own process, as it runs in production. */
export async function tunnelRole(): Promise<void> {
  const { Identity } = await import('../../src/identity/index.ts');
  const { startTunnel } = await import('../../src/gateway/index.ts');
  const client = await benchLedger();
  const identity = Identity.fromSeed(Buffer.from(env['BENCH_SEED']!, 'hex'));
  process.on('SIGINT', () => process.exit(0));
  await profileOnSignal('tunnel');
  for (const [name, port] of JSON.parse(env['BENCH_TUNNELS']!) as [string, number][])
    startTunnel({
      view: () => client.follower.view,
      ledger: client.follower.ledger,
      identity,
      name,
      to: { host: '127.0.0.1', port },
      address: { host: '127.0.0.1', port: Number(env['BENCH_TUNNEL_PORT']) },
    }).done.catch((err) => console.error(err));
}

/**
 * `--role gateway`: the gateway in its own process, as in production (not beside the
 * bench's ledger); prints its ports, then `ready` once both bench names have a tunnel.
 */
export async function gatewayRole(): Promise<void> {
  const { startGateway } = await import('../../src/gateway/index.ts');
  const { jsonLogger } = await import('../../src/core/log.ts');
  const client = await benchLedger();
  await client.follower.sync();
  const loopback = { host: '127.0.0.1', port: 0 };
  const gateway = await startGateway({
    follower: client.follower,
    gateway: Number(env['BENCH_GATEWAY']),
    domain: DOMAIN,
    http: loopback,
    https: loopback,
    tunnel: loopback,
    key: readFileSync(env['BENCH_KEY']!),
    cert: readFileSync(env['BENCH_CERT']!),
    logger: jsonLogger(() => {}),
  });
  process.on('SIGINT', () => process.exit(0));
  await profileOnSignal('gateway');
  const { httpPort, httpsPort, tunnelPort } = gateway;
  console.log(JSON.stringify({ httpPort, httpsPort, tunnelPort }));
  while (gateway.pool.count('bench') < 1 || gateway.pool.count('tls') < 1)
    await new Promise((r) => setTimeout(r, 50));
  console.log(JSON.stringify({ ready: true }));
}

/** The JSON lines a child prints on stdout, one at a time. */
export function jsonLines(child: ChildProcess): () => Promise<Record<string, number | boolean>> {
  const lines = createInterface({ input: child.stdout! });
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  lines.on('line', (l) => {
    if (!l.startsWith('{')) return void console.log(l); // e.g. --trace-gc lines
    queue.push(l);
    wake?.();
  });
  return async () => {
    while (queue.length === 0) await new Promise<void>((r) => (wake = r));
    return JSON.parse(queue.shift()!);
  };
}

/** `--role backend`: plain HTTP and HTTPS servers answering BODY; prints their ports. */
export async function backendRole(): Promise<void> {
  const { createServer: http } = await import('node:http');
  const { createServer: https } = await import('node:https');
  const handler = (_: unknown, res: import('node:http').ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
    res.end(BODY);
  };
  const a = http(handler);
  const b = https(siteTls(), handler);
  await new Promise<void>((r) => a.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => b.listen(0, '127.0.0.1', r));
  console.log(
    JSON.stringify({
      http: (a.address() as AddressInfo).port,
      https: (b.address() as AddressInfo).port,
    }),
  );
}

/** `--role relay`: one side of a bare relay chain (node-relay.ts); prints its port. */
export async function relayRole(side: RelaySide, hop: RelayHop, target: number): Promise<void> {
  console.log(JSON.stringify({ port: await startNodeRelay(side, hop, target, siteTls()) }));
}
