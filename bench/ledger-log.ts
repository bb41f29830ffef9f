/*
 * The ledger's Merkle log and stores (docs/ledger-log.md): durable append throughput with 1
 * and 16 concurrent submitters on SQLite and PostgreSQL (each append resolves only once its
 * group commit is durable), then a log of 1,000,000 leaves per store: inclusion and
 * consistency proof times straight from the store, and the writer's memory as the log
 * grows. PostgreSQL is a throwaway cluster started with scripts/test-postgres.
 * Transaction checks are not included here (bench/ledger.ts measures whole submissions).
 *
 *   node bench/ledger-log.ts [--seconds N] [--leaves N] [--no-postgres]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { toHex } from '../src/core/hex.ts';
import { privateKeyFromSeed } from '../src/core/keys.ts';
import type { LedgerStore } from '../src/ledger/ledger-store.ts';
import { type LeafDraft, LogCommitter } from '../src/ledger/log-committer.ts';
import { storeConsistencyProof, storeInclusionProof } from '../src/ledger/log-proofs.ts';
import { openStore } from '../src/ledger/open-store.ts';
import { type BenchRow, printTable, writeResults } from './support/bench-report.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    leaves: { type: 'string', default: '1000000' },
    'no-postgres': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const BIG = Number(values.leaves);
const ROOT = join(import.meta.dirname, '..');
const KEY = privateKeyFromSeed('ed25519', Buffer.alloc(32, 42));
const SIG = toHex(Buffer.alloc(64, 0xab));

/** A transaction about the size of a real one (a contract.create is a few hundred bytes). */
function draft(n: number, acceptedAt: number): LeafDraft {
  return {
    acceptedAt,
    tx: {
      type: 'contract.create',
      twin: 1000 + (n % 97),
      signer: toHex(Buffer.alloc(32, n % 251)),
      nonce: n,
      body: { node: 7, hash: toHex(Buffer.alloc(32, 3)), expiresAt: 1_900_000_000_000 },
    },
    sig: SIG,
  };
}

// Memory is measured after a full collection, so garbage not yet collected does not count.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

async function throughput(spec: string, submitters: number): Promise<BenchRow> {
  const store = await openStore(spec);
  const committer = await LogCommitter.open(store, { ledgerKey: KEY });
  let n = 0;
  const start = performance.now();
  const deadline = start + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: submitters }, async () => {
      while (performance.now() < deadline) {
        const at = Math.max(Date.now(), committer.lastAcceptedAt);
        await committer.append([draft(n++, at)]);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const leaves = await store.size();
  const commits = (await store.readHeads(0, 10_000_000)).length;
  await store.close();
  return {
    store: spec.startsWith('sqlite') ? 'sqlite' : 'postgres',
    submitters,
    'leaves/s': Math.round(leaves / elapsed),
    'leaves/commit': Math.round((leaves / commits) * 10) / 10,
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function timeProofs(store: LedgerStore, size: number, kind: 'inclusion' | 'consistency') {
  const times: number[] = [];
  for (let i = -200; i < 2000; i++) {
    const a = Math.floor(Math.random() * size);
    const t0 = performance.now();
    if (kind === 'inclusion') await storeInclusionProof(store, a, size);
    else await storeConsistencyProof(store, Math.max(1, a), size);
    if (i >= 0) times.push(performance.now() - t0); // the first 200 warm caches up
  }
  times.sort((x, y) => x - y);
  return {
    meanMs: times.reduce((s, t) => s + t, 0) / times.length,
    p99Ms: percentile(times, 0.99),
  };
}

async function bigLog(spec: string): Promise<{ rows: BenchRow[]; proofs: BenchRow[] }> {
  const name = spec.startsWith('sqlite') ? 'sqlite' : 'postgres';
  const store = await openStore(spec);
  const committer = await LogCommitter.open(store, { ledgerKey: KEY, maxBatch: 5000 });
  const rows: BenchRow[] = [];
  const chunk = 5000;
  const start = performance.now();
  const at = Date.now();
  for (let n = 0; n < BIG; n += chunk) {
    const count = Math.min(chunk, BIG - n);
    await committer.append(Array.from({ length: count }, (_, i) => draft(n + i, at)));
    const size = n + count;
    if (size % (BIG / 4) === 0 || size === BIG) {
      collect();
      const mem = process.memoryUsage();
      rows.push({
        store: name,
        leaves: size,
        'heap MiB': mib(mem.heapUsed),
        'rss MiB': mib(mem.rss),
        'build s': Math.round((performance.now() - start) / 100) / 10,
      });
      process.stderr.write(`  ${name}: ${size} leaves\n`);
    }
  }
  const proofs: BenchRow[] = [];
  for (const kind of ['inclusion', 'consistency'] as const) {
    const { meanMs, p99Ms } = await timeProofs(store, BIG, kind);
    proofs.push({ store: name, proof: kind, leaves: BIG, 'mean ms': meanMs, 'p99 ms': p99Ms });
  }
  await store.close();
  return { rows, proofs };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vdc-bench-ledger-log-'));
  // Not inside `dir` (mode 0700): as root, the cluster runs as the postgres user.
  const pgDir = join(tmpdir(), `vdc-bench-pg-${process.pid}`);
  let pgUrl: string | undefined;
  try {
    if (!values['no-postgres'])
      pgUrl = execFileSync(join(ROOT, 'scripts/test-postgres'), ['start', pgDir], {
        encoding: 'utf8',
      }).trim();
    const specs = (tag: string) => [
      `sqlite:${join(dir, `${tag}.db`)}`,
      ...(pgUrl ? [`${pgUrl}?schema=bench_${tag}`] : []),
    ];
    const append: BenchRow[] = [];
    for (const submitters of [1, 16])
      for (const spec of specs(`append_${submitters}`))
        append.push(await throughput(spec, submitters));
    printTable(`durable appends (${SECONDS} s each)`, append);

    const memory: BenchRow[] = [];
    const proofs: BenchRow[] = [];
    for (const spec of specs('big')) {
      const big = await bigLog(spec);
      memory.push(...big.rows);
      proofs.push(...big.proofs);
    }
    printTable(`writer memory while the log grows to ${BIG} leaves`, memory);
    printTable(`proofs from the store at ${BIG} leaves (2000 random each)`, proofs);
    const path = writeResults('ledger-log', {
      targets: { sqlite16: 2000, postgres16: 1000, proofMs: 1 },
      append,
      memory,
      proofs,
    });
    console.log(`\nwrote ${path}`);
  } finally {
    if (pgUrl !== undefined) execFileSync(join(ROOT, 'scripts/test-postgres'), ['stop', pgDir]);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
