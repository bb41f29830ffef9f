/*
 * zdb against Debian's redis-server, in the same run, with redis-benchmark: SET and GET,
 * 50 clients, without pipelining and with -P 16; plus the in-memory index cost per key at
 * one million keys. Prints a table and writes bench/results/zdb.json. Not a test: figures
 * depend on the machine; the targets are >= 0.8x redis-server unpipelined, >= 0.2x
 * with -P 16, and < 64 bytes of index per key plus the key.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort } from '../src/core/free-port.ts';
import { KeyIndex } from '../src/zdb/key-index.ts';
import { type BenchRow, printTable, writeResults } from './support/bench-report.ts';

const CLIENTS = 50;
const ROUNDS = 2;
const REQUESTS = { plain: 200_000, pipelined: 1_000_000 };
const KEYSPACE = 1_000_000;
const VDC = new URL('../bin/vdc', import.meta.url).pathname;

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'PING'], (err, out) =>
        resolve(!err && out.includes('PONG')),
      );
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing answers on port ${port}`);
}

function benchmark(port: number, test: 'set' | 'get', pipeline: number): Promise<number> {
  const n = pipeline > 1 ? REQUESTS.pipelined : REQUESTS.plain;
  return new Promise((resolve, reject) => {
    execFile(
      'redis-benchmark',
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-c',
        String(CLIENTS),
        '-n',
        String(n),
        '-r',
        String(KEYSPACE),
        '-P',
        String(pipeline),
        '-t',
        test,
        '--csv',
      ],
      { maxBuffer: 16 * 1024 * 1024 },
      (err, stdout) => {
        if (err) return reject(err);
        const line = stdout.split('\n').find((l) => l.startsWith(`"${test.toUpperCase()}"`));
        if (!line) return reject(new Error(`no result in ${stdout}`));
        resolve(Number(line.split(',')[1]!.replace(/"/g, '')));
      },
    );
  });
}

/** CPU seconds (user + system) a process has used, from /proc: less sensitive to a busy machine than req/s. */
function cpuSeconds(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
}

async function measured(
  proc: ChildProcess,
  port: number,
  test: 'set' | 'get',
  pipeline: number,
): Promise<{ rps: number; usPerReq: number }> {
  const before = cpuSeconds(proc.pid);
  const rps = await benchmark(port, test, pipeline);
  const n = pipeline > 1 ? REQUESTS.pipelined : REQUESTS.plain;
  return { rps, usPerReq: ((cpuSeconds(proc.pid) - before) * 1e6) / n };
}

function stop(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null) return resolve();
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
  });
}

function indexMemory(): { bytesPerKey: number; keyBytes: number; heapPerKey: number } {
  const before = process.memoryUsage();
  const index = new KeyIndex();
  let keyBytes = 0;
  for (let i = 0; i < 1_000_000; i++) {
    const key = Buffer.from(`key:${String(i).padStart(12, '0')}`); // redis-benchmark's key shape
    keyBytes += key.length;
    index.set(key, {
      flags: 0,
      dataId: 0,
      dataOffset: i,
      length: 3,
      crc: i,
      timestamp: i,
      idxId: 0,
      idxOffset: i,
    });
  }
  const after = process.memoryUsage();
  const grown = after.arrayBuffers + after.heapUsed - before.arrayBuffers - before.heapUsed;
  return {
    bytesPerKey: (index.memoryBytes() - keyBytes) / 1e6,
    keyBytes: keyBytes / 1e6,
    heapPerKey: (grown - keyBytes) / 1e6,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vdc-bench-zdb-'));
  const zdbPort = await freeLoopbackPort();
  const redisPort = await freeLoopbackPort();
  const zdb = spawn(
    VDC,
    [
      'zdb',
      'serve',
      '--data',
      join(dir, 'data'),
      '--index',
      join(dir, 'index'),
      '--listen',
      '127.0.0.1',
      '--port',
      String(zdbPort),
    ],
    { stdio: 'ignore' },
  );
  const redis = spawn(
    'redis-server',
    [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { stdio: 'ignore' },
  );
  try {
    await waitForPort(zdbPort);
    await waitForPort(redisPort);
    const rows: BenchRow[] = [];
    for (const pipeline of [1, 16]) {
      for (const test of ['set', 'get'] as const) {
        // interleaved, best of ROUNDS: a busy machine slows one run, not the comparison
        let z = { rps: 0, usPerReq: Infinity };
        let r = { rps: 0, usPerReq: Infinity };
        for (let i = 0; i < ROUNDS; i++) {
          const zi = await measured(zdb, zdbPort, test, pipeline);
          const ri = await measured(redis, redisPort, test, pipeline);
          if (zi.rps > z.rps) z = zi;
          if (ri.rps > r.rps) r = ri;
        }
        rows.push({
          test: test.toUpperCase(),
          pipeline,
          zdb_rps: Math.round(z.rps),
          redis_rps: Math.round(r.rps),
          ratio: Number((z.rps / r.rps).toFixed(2)),
          zdb_cpu_us: Number(z.usPerReq.toFixed(1)),
          redis_cpu_us: Number(r.usPerReq.toFixed(1)),
        });
      }
    }
    printTable(
      `redis-benchmark, ${CLIENTS} clients, random keys in ${KEYSPACE}, 3-byte values`,
      rows,
    );
    const mem = indexMemory();
    const memRow = {
      keys: 1_000_000,
      index_bytes_per_key: Number(mem.bytesPerKey.toFixed(1)),
      key_bytes: mem.keyBytes,
      heap_growth_per_key: Number(mem.heapPerKey.toFixed(1)),
    };
    printTable('in-memory index at one million keys (bytes per key, the key itself excluded)', [
      memRow,
    ]);
    const path = writeResults('zdb', {
      throughput: rows,
      indexMemory: memRow,
      targets: { plainRatio: 0.8, pipelinedRatio: 0.2, indexBytesPerKey: 64 },
      loadAverage: loadavg(),
    });
    console.log(`\nwrote ${path}`);
  } finally {
    await stop(zdb);
    await stop(redis);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
