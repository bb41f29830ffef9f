import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkStore, type MaintenanceTarget } from './check.ts';
import type { FakeShardBackend } from './fake-shard-backend.ts';
import { isHealthy, repairStore } from './repair.ts';
import { decodeShard, encodeShard } from './shard-format.ts';
import { collect, fakeBackends, sampleBytes, TEST_KEYS } from './test-support.ts';
import { ZstorStore } from './zstor-store.ts';

const OPTS = { data: 4, parity: 2, chunkSize: 16 * 1024, minShards: 5 } as const;

/** What repair is given: the backends and the meta root, no data key at all. */
function metaOnly(backends: FakeShardBackend[]): MaintenanceTarget {
  return { backends, keys: { meta: TEST_KEYS.meta }, ...OPTS };
}

async function setup(n = 7) {
  const backends = fakeBackends(n);
  const store = new ZstorStore(backends, TEST_KEYS, OPTS);
  const a = sampleBytes(100_000);
  const b = sampleBytes(3000);
  await store.put('a', [a]);
  await store.put('b', [b]);
  return { backends, store, a, b };
}

/** Changes the last byte of the first `count` values of `backend`. */
function damage(backend: FakeShardBackend, count: number): number {
  let n = 0;
  for (const v of backend.values.values()) {
    if (n === count) break;
    v[v.length - 1]! ^= 0x40;
    n++;
  }
  return n;
}

describe('check and repair (meta root only)', () => {
  test('a healthy store checks clean', async () => {
    const { backends } = await setup();
    const report = await checkStore(metaOnly(backends));
    assert.ok(isHealthy(report), JSON.stringify(report.findings));
    assert.equal(report.objects, 2);
    assert.equal(report.versions, 2);
    assert.equal(report.chunks, 7 + 1);
    assert.equal(report.shards, 6 + 2 * 6 + 8 * 6);
  });

  test('missing, corrupt and stale shards are found, rebuilt in place and read back', async () => {
    const { backends, store, a, b } = await setup();
    const [b0, b1] = backends;
    // missing: every value of b0 gone; corrupt: a byte flipped in b1's values
    const removed = b0!.values.size;
    b0!.values.clear();
    assert.equal(damage(b1!, 3), 3);
    // stale: another of b1's shards replaced by a well-formed shard of the same place
    // (at most two bad shards per chunk, so everything stays repairable)
    const [k, v] = [...b1!.values.entries()][5]!;
    const old = decodeShard(v, 'test');
    const other = encodeShard({ ...old }, Buffer.alloc(old.payload.length, 7));
    b1!.values.set(k, Buffer.concat([other.header, other.payload]));

    const report = await checkStore(metaOnly(backends));
    const count = (p: string) => report.findings.filter((f) => f.problem === p).length;
    assert.equal(count('missing'), removed);
    assert.equal(count('corrupt'), 3);
    assert.equal(count('stale'), 1);
    assert.deepEqual(report.lost, []);
    for (const f of report.findings) assert.ok(f.backend !== null && f.detail.length > 0);

    const repaired = await repairStore(metaOnly(backends));
    assert.equal(repaired.found, removed + 4);
    assert.equal(repaired.moved, 0);
    assert.deepEqual(repaired.failed, []);
    assert.ok(isHealthy(await checkStore(metaOnly(backends))));
    // Every shard is back where it belongs: reading with all data shards needs no parity.
    for (const x of backends) x.down = x === backends[6];
    assert.deepEqual(await collect(store.get('a')), a);
    assert.deepEqual(await collect(store.get('b')), b);
  });

  test('a shard written while its backend was down is moved onto a free node', async () => {
    const backends = fakeBackends(6);
    const store = new ZstorStore(backends, TEST_KEYS, OPTS);
    backends[3]!.down = true;
    const data = sampleBytes(40_000);
    await store.put('x', [data]);
    backends[3]!.down = false;
    const report = await checkStore(metaOnly(backends));
    assert.ok(report.findings.some((f) => f.backend === null && f.problem === 'missing'));
    assert.ok(report.findings.some((f) => f.kind === 'root' && f.problem === 'missing'));
    const r = await repairStore(metaOnly(backends));
    assert.ok(r.moved >= 3, `moved ${r.moved}`);
    assert.deepEqual(r.failed, []);
    assert.ok(isHealthy(await checkStore(metaOnly(backends))));
    // Now any two backends may go, the one that came back included.
    backends[0]!.down = true;
    backends[1]!.down = true;
    assert.deepEqual(await collect(store.get('x')), data);
  });

  test('an old copy of a backend (stale root, missing newer shards) is detected and repaired', async () => {
    const { backends, store } = await setup(6);
    const snapshot = new Map([...backends[2]!.values].map(([k, v]) => [k, Buffer.from(v)]));
    const c = sampleBytes(50_000);
    await store.put('c', [c]);
    await store.remove('b');
    backends[2]!.values.clear();
    for (const [k, v] of snapshot) backends[2]!.values.set(k, v);
    const report = await checkStore(metaOnly(backends));
    assert.ok(report.findings.some((f) => f.kind === 'root' && f.problem === 'stale'));
    assert.ok(report.findings.some((f) => f.object === 'c' && f.problem === 'missing'));
    const r = await repairStore(metaOnly(backends));
    assert.deepEqual(r.failed, []);
    assert.ok(isHealthy(await checkStore(metaOnly(backends))));
    backends[0]!.down = true;
    backends[1]!.down = true;
    assert.deepEqual(await collect(store.get('c')), c);
  });

  test('with more than parity backends damaged, the root itself is reported unrecoverable', async () => {
    const { backends } = await setup(6);
    for (const x of backends.slice(0, 3)) damage(x, Number.MAX_SAFE_INTEGER);
    const report = await checkStore(metaOnly(backends)).catch((e: Error) => e);
    // three of six root shards are damaged too: the root itself cannot be rebuilt
    assert.ok(report instanceof Error && 'code' in report);
    assert.equal((report as { code: string }).code, 'ZSTOR_METADATA_NOT_FOUND');
  });

  test('chunks past repair are listed with what is missing', async () => {
    const { backends } = await setup(7);
    // Remove chunk shards (not root or manifest ones) from three backends: find them by size.
    for (const x of backends.slice(0, 3))
      for (const [k, v] of x.values) if (v.length > 1000) x.values.delete(k);
    const report = await checkStore(metaOnly(backends));
    assert.ok(report.lost.length > 0);
    assert.match(report.lost[0]!, /^chunk \d+ of "a" version 1: [0-3] good shards, 4 needed$/);
    const r = await repairStore(metaOnly(backends));
    assert.ok(r.failed.some((f) => /: lost$/.test(f)));
  });
});
