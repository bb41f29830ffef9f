/*
 * The relay (docs/relay.md): round-trip latency (p50/p99) of a request and its response
 * between two twins over one relay on loopback, and messages per second one way and as
 * request/response with many in flight. Everything is real: envelope crypto, signatures,
 * the receivers' durable replay stores (group-committed fdatasync under a temp folder) and
 * WebSockets. For comparison, the same round trip as a bare `ws` echo with no envelope.
 *
 *   node bench/relay.ts [--requests N] [--messages N] [--size BYTES]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { RelayClient, startRelayServer } from '../src/relay/index.ts';
import { addTwin, newDirectory, quiet } from '../src/relay/relay-test-kit.ts';
import { type BenchRow, printTable, writeResults } from './support/bench-report.ts';
import { latencyRow } from './support/latency.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    messages: { type: 'string', default: '20000' },
    size: { type: 'string', default: '256' },
  },
});
const REQUESTS = Number(values.requests);
const MESSAGES = Number(values.messages);
const SIZE = Number(values.size);
const WINDOW = 128;

async function withWindow(
  total: number,
  window: number,
  one: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(window, total) }, worker));
}

async function wsEchoBaseline(body: string): Promise<number[]> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)));
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  await new Promise((r) => ws.once('open', r));
  const samples: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      ws.once('message', () => resolve());
      ws.send(body);
    });
    samples.push(performance.now() - t0);
  }
  ws.close();
  wss.close();
  return samples;
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(process.env['BENCH_DIR'] ?? tmpdir(), 'vdc-bench-relay-'));
  const dir = newDirectory();
  const relay = await startRelayServer({
    host: '127.0.0.1',
    port: 0,
    directory: dir,
    logger: quiet,
    // the bench measures the relay, not its per-connection rate limit (docs/relay.md)
    limits: { rateMessagesPerSecond: 1e6, rateBurstMessages: 1e6 },
  });
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const client = (twin: typeof alice, name: string) =>
    new RelayClient({
      url: relay.url,
      identity: twin.identity,
      twin: twin.id,
      directory: dir,
      dataDir: join(tmp, name),
      logger: quiet,
      maxPendingSends: 10_000,
    });
  const ca = client(alice, 'alice');
  const cb = client(bob, 'bob');
  await Promise.all([ca.ready(), cb.ready()]);
  const body = 'x'.repeat(SIZE);
  cb.handle((m) => m.body);

  // Warm up the JIT and the connections.
  for (let i = 0; i < 200; i++) await ca.request(2, body);

  const rtt: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now();
    await ca.request(2, body);
    rtt.push(performance.now() - t0);
  }

  let t0 = performance.now();
  await withWindow(MESSAGES / 4, 64, () => ca.request(2, body, { timeoutMs: 60_000 }));
  const rrSeconds = (performance.now() - t0) / 1000;

  let received = 0;
  let allIn: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    allIn = resolve;
  });
  cb.onMessage(() => {
    if (++received === MESSAGES) allIn();
  });
  t0 = performance.now();
  await withWindow(MESSAGES, WINDOW, () => ca.send(2, 'note', body, { timeoutMs: 60_000 }));
  await done;
  const oneWaySeconds = (performance.now() - t0) / 1000;

  const baseline = await wsEchoBaseline(JSON.stringify({ type: 'send', body }));
  await ca.close();
  await cb.close();
  await relay.close();
  rmSync(tmp, { recursive: true, force: true });

  const latency = [
    latencyRow(`relay request/response (${SIZE} B)`, rtt),
    latencyRow('bare ws echo, no envelope', baseline),
  ];
  const throughput: BenchRow[] = [
    {
      test: `one-way messages, ${WINDOW} in flight`,
      count: MESSAGES,
      seconds: oneWaySeconds,
      'msg/s': Math.round(MESSAGES / oneWaySeconds),
    },
    {
      test: 'request/response, 64 in flight',
      count: MESSAGES / 4,
      seconds: rrSeconds,
      'msg/s': Math.round(MESSAGES / 4 / rrSeconds),
    },
  ];
  printTable('Relay round trip between two twins on loopback', latency);
  printTable('Relay throughput between two twins on loopback', throughput);
  console.log(`\nwrote ${writeResults('relay', { payloadBytes: SIZE, latency, throughput })}`);
}

await main();
