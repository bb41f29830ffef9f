/*
 * zstor speed: Reed-Solomon encode/decode (both kernels), the whole pipeline put/get in
 * memory, against this machine's AES-256-GCM, SHA-256 and zstd measured in the same run.
 * Writes bench/results/zstor.json. MB = 10^6 bytes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createCipheriv, createHash, randomBytes, randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, zstdCompressSync } from 'node:zlib';
import { freeLoopbackPort } from '../src/core/free-port.ts';
import { ZdbClient } from '../src/zdb/index.ts';
import { jsKernel } from '../src/zstor/gf256-kernel-js.ts';
import { createWasmKernel } from '../src/zstor/gf256-kernel-wasm.ts';
import {
  checkStore,
  DEFAULT_MAINTENANCE_IN_FLIGHT,
  isHealthy,
  type MaintenanceTarget,
  ReedSolomon,
  repairStore,
  type ShardBackend,
  ZdbShardBackend,
  ZstorStore,
  zstorKeysFromSeed,
} from '../src/zstor/index.ts';
import { type BenchRow, printTable, writeResults } from './support/bench-report.ts';
import { cpuSeconds } from './support/process-stats.ts';

const CHUNK = 4 * 1024 * 1024;
const OBJECT = 256 * 1024 * 1024;
const MB = 1e6;

/** Runs `fn` (which handles `bytes` per call) for at least `minMs`, after a warm-up; MB/s. */
function rate(bytes: number, fn: () => void, minMs = 1500): number {
  for (let i = 0; i < 3; i++) fn();
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    fn();
    n++;
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  return (n * bytes) / MB / (elapsed / 1000);
}

/** VDC_BENCH_ZSTOR_ONLY=zdb skips Reed-Solomon and the in-memory pipeline (for profiling runs). */
const ZDB_ONLY = process.env['VDC_BENCH_ZSTOR_ONLY'] === 'zdb';
/** VDC_BENCH_ZSTOR_MAINTENANCE=0 skips the check and repair rows over zdb. */
const MAINTENANCE = process.env['VDC_BENCH_ZSTOR_MAINTENANCE'] !== '0';
const kernels = [jsKernel, createWasmKernel()].filter((k) => k !== undefined);
const rsRows: BenchRow[] = [];
for (const [data, parity] of ZDB_ONLY
  ? []
  : ([
      [4, 2],
      [10, 4],
      [16, 4],
    ] as const)) {
  for (const kernel of kernels) {
    const rs = new ReedSolomon(data, parity, kernel);
    const shards = rs.split(randomBytes(CHUNK)).map((s) => Buffer.from(s));
    const parityOut = Array.from({ length: parity }, () => Buffer.alloc(shards[0]!.length));
    const encode = rate(CHUNK, () => rs.encodeInto(shards, parityOut));
    const all = [...shards, ...parityOut];
    const decode = rate(CHUNK, () => {
      const slots: (Uint8Array | undefined)[] = [...all];
      for (let i = 0; i < parity; i++) slots[i] = undefined; // worst case: parity data shards lost
      rs.reconstruct(slots, true);
    });
    rsRows.push({
      code: `${data}+${parity}`,
      kernel: kernel.name,
      'encode MB/s': encode,
      'decode MB/s': decode,
    });
  }
}
printTable(
  'Reed-Solomon, 4 MiB chunks (MB of data per second; decode rebuilds `parity` lost data shards)',
  rsRows,
);

const peerRows: BenchRow[] = [];
{
  const buf = randomBytes(CHUNK);
  const key = randomBytes(32);
  const iv = Buffer.alloc(12);
  peerRows.push({
    operation: 'AES-256-GCM encrypt',
    'MB/s': rate(CHUNK, () => {
      const c = createCipheriv('aes-256-gcm', key, iv);
      c.update(buf);
      c.final();
    }),
  });
  // The row above is what the ratios use (as in every earlier run). node:crypto returns a
  // fresh 4 MiB buffer per update, and on this VM that buffer's page faults cost more than
  // the cipher; in 64 KiB steps the output memory is reused, which shows the cipher itself.
  peerRows.push({
    operation: 'AES-256-GCM encrypt, 64 KiB steps',
    'MB/s': rate(CHUNK, () => {
      const c = createCipheriv('aes-256-gcm', key, iv);
      for (let at = 0; at < CHUNK; at += 65536) c.update(buf.subarray(at, at + 65536));
      c.final();
    }),
  });
  peerRows.push({
    operation: 'SHA-256',
    'MB/s': rate(CHUNK, () => createHash('sha256').update(buf).digest()),
  });
  const level3 = { params: { [constants.ZSTD_c_compressionLevel]: 3 } };
  peerRows.push({
    operation: 'zstd -3, random bytes',
    'MB/s': rate(CHUNK, () => zstdCompressSync(buf, level3)),
  });
  const text = Buffer.from(
    'the quick brown fox jumps over the lazy dog 0123456789\n'.repeat(CHUNK / 55 + 1),
  ).subarray(0, CHUNK);
  peerRows.push({
    operation: 'zstd -3, repetitive text',
    'MB/s': rate(CHUNK, () => zstdCompressSync(text, level3)),
  });
}
printTable('This machine, same run (4 MiB buffers)', peerRows);

/**
 * An in-memory backend that copies shards into one buffer allocated and touched before the
 * clock starts. FakeShardBackend allocates per shard, and on this kind of VM first-touch page
 * faults on hundreds of fresh MiB cost more than the whole pipeline, which would measure the
 * hypervisor rather than zstor (a zdb backend keeps its data in another process).
 */
class FakeArenaBackend implements ShardBackend {
  readonly id: string;
  readonly node: string;
  readonly farm = undefined;
  readonly #arena: Buffer;
  readonly #index = new Map<string, [number, number]>();
  #used = 0;
  constructor(id: string, bytes: number) {
    this.id = id;
    this.node = id;
    this.#arena = Buffer.alloc(bytes, 1);
  }
  async put(key: Uint8Array, parts: readonly Uint8Array[]) {
    const start = this.#used;
    for (const p of parts) {
      this.#arena.set(p, this.#used);
      this.#used += p.length;
    }
    this.#index.set(Buffer.from(key).toString('hex'), [start, this.#used]);
  }
  async get(key: Uint8Array) {
    const at = this.#index.get(Buffer.from(key).toString('hex'));
    return at === undefined ? undefined : this.#arena.subarray(at[0], at[1]);
  }
  async delete(key: Uint8Array) {
    return this.#index.delete(Buffer.from(key).toString('hex'));
  }
  async exists(key: Uint8Array) {
    return this.#index.has(Buffer.from(key).toString('hex'));
  }
  get used() {
    return this.#used;
  }
}

async function pipeline(level: number): Promise<BenchRow> {
  const backends = Array.from(
    { length: 6 },
    (_, i) => new FakeArenaBackend(`b${i}`, OBJECT / 4 + 16 * 2 ** 20),
  );
  const store = new ZstorStore(backends, zstorKeysFromSeed(Buffer.alloc(64, 7)), {
    data: 4,
    parity: 2,
    chunkSize: CHUNK,
    compressionLevel: level,
    // In-process backends answer at once: a short lock settle keeps the writer lock's fixed
    // cost (~0.5 s per put by default) out of the pipeline's throughput. The zdb run below
    // keeps the default, as `vdc store` does.
    lock: { settleMs: 20 },
  });
  // 8 distinct random MiB, cycled: every 4 MiB chunk is incompressible.
  const pool = Array.from({ length: 8 }, () => randomFillSync(Buffer.allocUnsafe(1024 * 1024)));
  async function* source() {
    for (let sent = 0, i = 0; sent < OBJECT; sent += 1024 * 1024, i++) yield pool[i % pool.length]!;
  }
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  const baseline = process.memoryUsage.rss();
  let start = performance.now();
  await store.put('big', source());
  const put = OBJECT / MB / ((performance.now() - start) / 1000);
  start = performance.now();
  let read = 0;
  for await (const chunk of store.get('big')) read += chunk.length;
  const get = read / MB / ((performance.now() - start) / 1000);
  clearInterval(timer);
  const stored = backends.reduce((n, b) => n + b.used, 0);
  return {
    zstd: level === 0 ? 'off' : `-${level}`,
    'put MB/s': put,
    'get MB/s': get,
    'peak RSS growth MiB': (peak - baseline) / 2 ** 20,
    'held by backends MiB': stored / 2 ** 20,
  };
}

const pipeRows = ZDB_ONLY ? [] : [await pipeline(3), await pipeline(0)];
printTable(
  'Pipeline 4+2, 256 MiB random object, in-memory backends (preallocated arenas, not in RSS growth)',
  pipeRows,
);

/*
 * put/get over six zdb servers on loopback, each its own process (`vdc zdb serve`), as in
 * production: the 1 GiB object (VDC_BENCH_ZSTOR_ZDB_MIB to change), 4+2, 4 MiB chunks.
 */
const ZDB_OBJECT = Number(process.env['VDC_BENCH_ZSTOR_ZDB_MIB'] ?? 1024) * 1024 * 1024;
const VDC = new URL('../bin/vdc', import.meta.url).pathname;

async function connectWhenUp(port: number): Promise<ZdbClient> {
  for (let i = 0; i < 200; i++) {
    try {
      return await ZdbClient.connect({ host: '127.0.0.1', port });
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`no zdb answers on port ${port}`);
}

/** CPU seconds of this process and of the zdb children, to charge each phase per MB. */
function cpuNow(children: readonly ChildProcess[]): { client: number; zdb: number } {
  const u = process.cpuUsage();
  let zdb = 0;
  for (const c of children) if (c.pid !== undefined) zdb += cpuSeconds(c.pid);
  return { client: (u.user + u.system) / 1e6, zdb };
}

/**
 * VDC_BENCH_ZSTOR_PROF_DIR=DIR: each zdb server writes a V8 CPU profile there when it
 * stops (run the bench itself with --cpu-prof for the client's).
 */
const PROF_DIR = process.env['VDC_BENCH_ZSTOR_PROF_DIR'];

/** VDC_BENCH_ZSTOR_DELAY_MS=N (default 10, a 20 ms round trip; 0 skips): check/repair rows through the proxy. */
const DELAY_MS = Number(process.env['VDC_BENCH_ZSTOR_DELAY_MS'] ?? 10);

/** A backend reached through the proxy under the id the store recorded for the direct one. */
class AliasBackend implements ShardBackend {
  readonly id: string;
  readonly node: string;
  readonly farm = undefined;
  readonly inner: ZdbShardBackend;
  constructor(original: ShardBackend, inner: ZdbShardBackend) {
    this.id = original.id;
    this.node = original.node;
    this.inner = inner;
  }
  put(key: Uint8Array, parts: readonly Uint8Array[]) {
    return this.inner.put(key, parts);
  }
  get(key: Uint8Array) {
    return this.inner.get(key);
  }
  getParts(key: Uint8Array) {
    return this.inner.getParts(key);
  }
  delete(key: Uint8Array) {
    return this.inner.delete(key);
  }
  exists(key: Uint8Array) {
    return this.inner.exists(key);
  }
  keys() {
    return this.inner.keys();
  }
}

/** The check/repair rows again, with every zdb behind the delaying proxy. */
async function maintenanceDelayed(
  backends: readonly ZdbShardBackend[],
  options: readonly { port: number; password: string }[],
  meta: Buffer,
  objectBytes: number,
): Promise<BenchRow[]> {
  const ports: [number, number][] = [];
  for (const o of options) ports.push([await freeLoopbackPort(), o.port]);
  const proxy = spawn(
    process.execPath,
    [
      new URL('./support/delay-proxy.ts', import.meta.url).pathname,
      String(DELAY_MS),
      ...ports.map(([listen, target]) => `${listen}:${target}`),
    ],
    { stdio: 'ignore' },
  );
  const delayed = backends.map(
    (b, i) =>
      new AliasBackend(
        b,
        new ZdbShardBackend({
          address: `127.0.0.1:${ports[i]![0]}`,
          namespace: 'bench',
          password: options[i]!.password,
          node: b.node,
        }),
      ),
  );
  try {
    for (const [port] of ports) (await connectWhenUp(port)).close();
    const rows = await maintenanceOverZdb(delayed, meta, objectBytes, 500);
    return rows.map((r) => ({ ...r, 'round trip': `+${2 * DELAY_MS} ms` }));
  } finally {
    for (const b of delayed) b.inner.close();
    proxy.kill('SIGTERM');
  }
}

/** Deletes every key of one backend (outside the clock); returns the bytes it held. */
async function wipe(backend: ShardBackend): Promise<number> {
  const keys: Uint8Array[] = [];
  for await (const k of backend.keys!()) keys.push(k);
  let bytes = 0;
  for (const k of keys) {
    bytes += (await backend.get(k))?.length ?? 0;
    await backend.delete(k);
  }
  return bytes;
}

/**
 * check and repair over the six zdb servers holding the object: check of the healthy store,
 * then one backend wiped (its namespace emptied, as a zdb replaced by an empty one) and
 * repair rebuilding its shards in place; sequential (window 1) and with the default
 * window, twice, alternately. Repair takes the writer lock with a 50 ms settle on
 * loopback (`vdc store repair` waits ~0.5 s more, once), the default 500 ms behind the proxy.
 */
async function maintenanceOverZdb(
  backends: readonly ShardBackend[],
  meta: Buffer,
  objectBytes: number,
  settleMs = 50,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const victim = backends[2]!;
  for (const run of [1, 2])
    for (const window of [1, DEFAULT_MAINTENANCE_IN_FLIGHT]) {
      const t: MaintenanceTarget = {
        backends,
        keys: { meta },
        data: 4,
        parity: 2,
        maintenanceInFlight: window,
        // The writer lock's fixed cost (settle ~0.5 s by default) is kept out on loopback,
        // as in the in-memory pipeline above; far backends need the default (a claim must
        // be acknowledged within half of it).
        lock: { settleMs },
      };
      const load0 = loadavg()[0]!;
      let start = performance.now();
      const checked = await checkStore(t);
      const checkS = (performance.now() - start) / 1000;
      if (!isHealthy(checked)) throw new Error('the store is not healthy before the wipe');
      rows.push({
        'round trip': 'loopback',
        run,
        operation: 'check',
        window,
        seconds: checkS,
        'object MB/s': objectBytes / MB / checkS,
        // check reads every shard (1.5 bytes per byte of object with 4+2); repair rebuilds
        'shard MB/s (read / rebuilt)': (objectBytes * 1.5) / MB / checkS,
        'rebuilt shards': '-',
        'peak RSS growth MiB': '-',
        'load avg': load0.toFixed(2),
      });
      const wiped = await wipe(victim);
      const baseline = process.memoryUsage.rss();
      let peak = baseline;
      const timer = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage.rss());
      }, 10);
      const load1 = loadavg()[0]!;
      start = performance.now();
      const report = await repairStore(t);
      const repairS = (performance.now() - start) / 1000;
      clearInterval(timer);
      if (report.failed.length > 0 || report.moved > 0)
        throw new Error(`repair did not rebuild in place: ${JSON.stringify(report)}`);
      rows.push({
        'round trip': 'loopback',
        run,
        operation: 'repair',
        window,
        seconds: repairS,
        'object MB/s': objectBytes / MB / repairS,
        'shard MB/s (read / rebuilt)': wiped / MB / repairS,
        'rebuilt shards': report.rewritten,
        'peak RSS growth MiB': (peak - baseline) / 2 ** 20,
        'load avg': `${load1.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}`,
      });
      if (!isHealthy(await checkStore(t))) throw new Error('repair left damage behind');
    }
  return rows;
}

async function overZdb(level: number): Promise<{ row: BenchRow; maintenance: BenchRow[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'vdc-bench-zstor-'));
  const children: ChildProcess[] = [];
  const backends: ZdbShardBackend[] = [];
  const servers: { port: number; password: string }[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      const port = await freeLoopbackPort();
      const d = join(dir, `zdb${i}`);
      children.push(
        spawn(
          VDC,
          ['zdb', 'serve', '--data', join(d, 'data'), '--index', join(d, 'index')].concat([
            '--listen',
            '127.0.0.1',
            '--port',
            String(port),
            '--secure',
          ]),
          {
            stdio: 'ignore',
            env:
              PROF_DIR === undefined
                ? process.env
                : {
                    ...process.env,
                    NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${PROF_DIR} --cpu-prof-name=zdb${i}-\${pid}.cpuprofile`,
                  },
          },
        ),
      );
      const admin = await connectWhenUp(port);
      const password = randomBytes(12).toString('hex');
      servers.push({ port, password });
      await admin.command('NSNEW', 'bench');
      await admin.command('NSSET', 'bench', 'password', password);
      await admin.command('NSSET', 'bench', 'public', '0');
      admin.close();
      backends.push(
        new ZdbShardBackend({
          address: `127.0.0.1:${port}`,
          namespace: 'bench',
          password,
          node: `node${i}`,
        }),
      );
    }
    const keys = zstorKeysFromSeed(Buffer.alloc(64, 9));
    const store = new ZstorStore(backends, keys, {
      data: 4,
      parity: 2,
      chunkSize: CHUNK,
      compressionLevel: level,
    });
    const pool = Array.from({ length: 8 }, () => randomFillSync(Buffer.allocUnsafe(1024 * 1024)));
    async function* source() {
      for (let sent = 0, i = 0; sent < ZDB_OBJECT; sent += 1024 * 1024, i++)
        yield pool[i % pool.length]!;
    }
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage.rss());
    }, 10);
    const load = [loadavg()[0]!];
    const cpu0 = cpuNow(children);
    let start = performance.now();
    await store.put('big', source());
    const put = ZDB_OBJECT / MB / ((performance.now() - start) / 1000);
    load.push(loadavg()[0]!);
    const cpu1 = cpuNow(children);
    start = performance.now();
    let read = 0;
    for await (const chunk of store.get('big')) read += chunk.length;
    const get = read / MB / ((performance.now() - start) / 1000);
    const cpu2 = cpuNow(children);
    load.push(loadavg()[0]!);
    clearInterval(timer);
    const perMB = (seconds: number) => (seconds * 1000) / (ZDB_OBJECT / MB);
    const maintenance = MAINTENANCE
      ? await maintenanceOverZdb(backends, keys.meta, ZDB_OBJECT)
      : [];
    if (MAINTENANCE && DELAY_MS > 0)
      maintenance.push(...(await maintenanceDelayed(backends, servers, keys.meta, ZDB_OBJECT)));
    const row: BenchRow = {
      object: `${ZDB_OBJECT / 2 ** 20} MiB`,
      zstd: level === 0 ? 'off' : `-${level}`,
      'put MB/s': put,
      'get MB/s': get,
      'peak RSS growth MiB': (peak - baseline) / 2 ** 20,
      'put client CPU ms/MB': perMB(cpu1.client - cpu0.client),
      'put zdb CPU ms/MB': perMB(cpu1.zdb - cpu0.zdb),
      'get client CPU ms/MB': perMB(cpu2.client - cpu1.client),
      'get zdb CPU ms/MB': perMB(cpu2.zdb - cpu1.zdb),
      'load avg': load.map((l) => l.toFixed(2)).join(' → '),
    };
    return { row, maintenance };
  } finally {
    for (const b of backends) b.close();
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(
      children.map((c) => new Promise((r) => (c.exitCode === null ? c.once('exit', r) : r(0)))),
    );
    rmSync(dir, { recursive: true, force: true });
  }
}

const zdbRun = await overZdb(3);
const zdbRows = [zdbRun.row];
printTable('zstor 4+2 over 6 local zdb servers (separate processes), random object', zdbRows);
printTable(
  `check and repair of that object over the same 6 zdb servers (repair: one backend wiped; window 1 = sequential, ${DEFAULT_MAINTENANCE_IN_FLIGHT} = default; "+N ms": through a proxy delaying each direction N/2 ms)`,
  zdbRun.maintenance,
);

const aes = Number(peerRows[0]!['MB/s']);
const aesSteps = Number(peerRows[1]!['MB/s']);
const wasm42 = rsRows.find((r) => r['code'] === '4+2' && r['kernel'] === 'wasm-simd');
const summary = {
  'RS 4+2 encode MB/s (target 1000)': Number((wasm42 ?? rsRows[0])?.['encode MB/s']),
  'put / AES-GCM': Number(pipeRows[0]?.['put MB/s']) / aes,
  'get / AES-GCM': Number(pipeRows[0]?.['get MB/s']) / aes,
  'zdb put / AES-GCM (target 0.3)': Number(zdbRows[0]!['put MB/s']) / aes,
  'zdb get / AES-GCM (target 0.5)': Number(zdbRows[0]!['get MB/s']) / aes,
  'zdb put / AES-GCM in 64 KiB steps': Number(zdbRows[0]!['put MB/s']) / aesSteps,
  'zdb get / AES-GCM in 64 KiB steps': Number(zdbRows[0]!['get MB/s']) / aesSteps,
};
console.log('\nSummary', summary);
// A partial run (VDC_BENCH_ZSTOR_ONLY) prints its figures but keeps the last full results.
if (!ZDB_ONLY)
  console.log(
    `wrote ${writeResults('zstor', {
      reedSolomon: rsRows,
      machine: peerRows,
      pipeline: pipeRows,
      overZdb: zdbRows,
      maintenanceOverZdb: zdbRun.maintenance,
      summary,
    })}`,
  );
