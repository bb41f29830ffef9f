import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkStore, type MaintenanceTarget } from './check.ts';
import { FakeShardBackend } from './fake-shard-backend.ts';
import { chunkOrigins } from './object-manifest.ts';
import { RecordingBackend } from './recording-backend.ts';
import { isHealthy, repairStore } from './repair.ts';
import type { ShardBackend } from './shard-backend.ts';
import { decodeShard, encodeShard } from './shard-format.ts';
import { TaskWindow } from './task-window.ts';
import { collect, fakeBackends, sampleBytes, TEST_KEYS } from './test-support.ts';
import { shardKey, shardNameKey } from './zstor-keys.ts';
import { ZstorStore } from './zstor-store.ts';

/*
 * check and repair work on `maintenanceInFlight` chunk groups at once (task-window.ts):
 * the window is really used and never exceeded, the reports are those of the sequential
 * run (window 1), format 1 and format 2 alike, and a backend failing in the middle of a
 * repair leaves the other shards repaired and is named in the report.
 */

const CHUNK = 16 * 1024;
const OPTS = { data: 4, parity: 2, chunkSize: CHUNK, minShards: 5, lock: { settleMs: 10 } };
const NAME_KEY = shardNameKey(TEST_KEYS.meta);

const target = (backends: readonly ShardBackend[], window?: number): MaintenanceTarget => ({
  backends,
  keys: { meta: TEST_KEYS.meta },
  ...OPTS,
  ...(window === undefined ? {} : { maintenanceInFlight: window }),
});

/** Answers after a few milliseconds, as a backend across a network does, and counts calls in flight. */
class SlowBackend implements ShardBackend {
  readonly inner: ShardBackend;
  readonly id: string;
  readonly node: string;
  readonly farm: string | undefined;
  gets = 0;
  puts = 0;
  peakGets = 0;
  peakPuts = 0;
  constructor(inner: ShardBackend) {
    this.inner = inner;
    this.id = inner.id;
    this.node = inner.node;
    this.farm = inner.farm;
  }
  async get(key: Uint8Array) {
    this.peakGets = Math.max(this.peakGets, ++this.gets);
    try {
      await sleep(3);
      return await this.inner.get(key);
    } finally {
      this.gets--;
    }
  }
  async put(key: Uint8Array, parts: readonly Uint8Array[]) {
    this.peakPuts = Math.max(this.peakPuts, ++this.puts);
    try {
      await sleep(3);
      await this.inner.put(key, parts);
    } finally {
      this.puts--;
    }
  }
  delete(key: Uint8Array) {
    return this.inner.delete(key);
  }
  exists(key: Uint8Array) {
    return this.inner.exists(key);
  }
  reset() {
    this.peakGets = 0;
    this.peakPuts = 0;
  }
}

/** Hex key of shard `index` of chunk `chunk` of the newest version of `name`. */
async function keyOf(store: ZstorStore, name: string, chunk: number, index: number) {
  const o = chunkOrigins(await store.manifest(name))[chunk]!;
  return shardKey(NAME_KEY, o.objectId, o.version, o.chunk, index).toString('hex');
}

/** Flips a payload byte of the value under `key`, wherever it is. */
function corrupt(fakes: readonly FakeShardBackend[], key: string): void {
  const holder = fakes.find((b) => b.values.has(key))!;
  const v = holder.values.get(key)!;
  v[v.length - 1]! ^= 0x40;
}

/** Replaces the value under `key` by a well-formed shard of the same place (another write). */
function makeStale(fakes: readonly FakeShardBackend[], key: string): void {
  const holder = fakes.find((b) => b.values.has(key))!;
  const old = decodeShard(holder.values.get(key)!, 'test');
  const other = encodeShard({ ...old }, Buffer.alloc(old.payload.length, 9));
  holder.values.set(key, Buffer.concat([other.header, other.payload]));
}

function cloneFakes(fakes: readonly FakeShardBackend[]): FakeShardBackend[] {
  return fakes.map((b) => {
    const c = new FakeShardBackend(b.id, b.node, b.farm);
    for (const [k, v] of b.values) c.values.set(k, Buffer.from(v));
    return c;
  });
}

describe('task window', () => {
  test('never runs more than its size, and runs that many', async () => {
    const window = new TaskWindow(3);
    let running = 0;
    let peak = 0;
    const results: Promise<number>[] = [];
    for (let i = 0; i < 12; i++)
      results.push(
        (
          await window.start(async () => {
            peak = Math.max(peak, ++running);
            await sleep(2);
            running--;
            return i;
          })
        ).result,
      );
    await window.idle();
    assert.equal(peak, 3);
    assert.deepEqual(await Promise.all(results), [...Array(12).keys()]);
  });

  test('a failing task is reported to its caller only, and the others run', async () => {
    const window = new TaskWindow(2);
    const a = (await window.start(async () => Promise.reject(new Error('boom')))).result;
    const b = (await window.start(async () => 7)).result;
    const c = (await window.start(async () => 8)).result;
    await window.idle();
    await assert.rejects(a, /boom/);
    assert.deepEqual([await b, await c], [7, 8]);
  });
});

describe('check and repair over a window of chunks', () => {
  test('chunk groups are read and rewritten several at once, never more than the window', async () => {
    const fakes = fakeBackends(6);
    const slow = fakes.map((b) => new SlowBackend(b));
    const store = new ZstorStore(fakes, TEST_KEYS, OPTS);
    await store.put('a', [sampleBytes(13 * CHUNK)]);
    await store.put('b', [sampleBytes(5 * CHUNK)]);
    for (const window of [1, 4]) {
      for (const s of slow) s.reset();
      assert.ok(isHealthy(await checkStore(target(slow, window))));
      const peak = Math.max(...slow.map((s) => s.peakGets));
      // each chunk group reads one shard per backend; the manifest being read is the one more
      assert.ok(peak <= window + 1, `window ${window}: ${peak} gets at once on one backend`);
      if (window > 1) assert.ok(peak >= window, `window ${window}: only ${peak} at once`);
    }
    // repair rewrites a wiped backend's shards in place, up to 4 chunks at once
    fakes[0]!.values.clear();
    for (const s of slow) s.reset();
    // (a slow backend needs a longer writer-lock settle: claims are acked within half of it)
    const r = await repairStore({ ...target(slow, 4), lock: { settleMs: 200 } });
    assert.deepEqual(r.failed, []);
    assert.ok(
      slow[0]!.peakPuts >= 2 && slow[0]!.peakPuts <= 4,
      `${slow[0]!.peakPuts} puts at once`,
    );
    assert.ok(isHealthy(await checkStore(target(fakes))));
  });

  test('reports and results equal the sequential run: missing, corrupt and stale shards, formats 1 and 2', async () => {
    const fakes = fakeBackends(6);
    const store = new ZstorStore(fakes, TEST_KEYS, OPTS);
    const bodies = new Map<string, Buffer>([
      ['a', sampleBytes(7 * CHUNK + 100)],
      ['p1', sampleBytes(3 * CHUNK)],
      ['p2', sampleBytes(2 * CHUNK + 5)],
      ['c', sampleBytes(4 * CHUNK)],
    ]);
    for (const [name, body] of bodies) await store.put(name, [body]);
    await store.splice('s', ['p1', 'p2']);
    bodies.set('s', Buffer.concat([bodies.get('p1')!, bodies.get('p2')!]));
    bodies.delete('p1');
    bodies.delete('p2');
    // 'd' is written with backend 5 down: its shards there are recorded null, and move.
    fakes[5]!.down = true;
    bodies.set('d', sampleBytes(3 * CHUNK));
    await store.put('d', [bodies.get('d')!]);
    fakes[5]!.down = false;
    assert.equal((await store.manifest('s')).format, 2);
    // At most two bad shards per chunk: backend 0 wiped, plus one shard here and there.
    fakes[0]!.values.clear();
    corrupt(fakes, await keyOf(store, 'a', 0, 1));
    makeStale(fakes, await keyOf(store, 'a', 5, 3));
    corrupt(fakes, await keyOf(store, 's', 1, 4)); // a chunk of p1, in the spliced object
    makeStale(fakes, await keyOf(store, 's', 4, 2)); // a chunk of p2
    corrupt(fakes, await keyOf(store, 'c', 3, 5));

    const sequential = await checkStore(target(fakes, 1));
    const windowed = await checkStore(target(fakes, 8));
    assert.deepEqual(windowed, sequential);
    const count = (p: string) =>
      sequential.findings.filter((f) => f.kind === 'chunk' && f.problem === p).length;
    assert.equal(count('corrupt'), 3);
    assert.equal(count('stale'), 2);
    // backend 5 was down for the root save of 'd': its root slot holds an older generation
    assert.ok(sequential.findings.some((f) => f.kind === 'root' && f.problem === 'stale'));
    assert.ok(count('missing') > 10);
    assert.deepEqual(sequential.lost, []);

    const a = cloneFakes(fakes);
    const b = cloneFakes(fakes);
    const repairedA = await repairStore(target(a, 1));
    const repairedB = await repairStore(target(b, 8));
    assert.deepEqual(repairedB, repairedA);
    assert.deepEqual(repairedA.failed, []);
    assert.ok(repairedA.moved >= 3, `moved ${repairedA.moved}`);
    const storeA = new ZstorStore(a, TEST_KEYS, OPTS);
    const storeB = new ZstorStore(b, TEST_KEYS, OPTS);
    for (const [name, body] of bodies) {
      // Same shards in the same places, byte for byte (manifest blob ids are random).
      const ma = await storeA.manifest(name);
      const mb = await storeB.manifest(name);
      assert.deepEqual(mb.chunks, ma.chunks);
      assert.deepEqual(await collect(storeB.get(name)), body);
    }
    for (const x of [a, b]) assert.ok(isHealthy(await checkStore(target(x))));
    // Every chunk has all its shards again: any two backends may go.
    b[1]!.down = true;
    b[5]!.down = true;
    for (const [name, body] of bodies) assert.deepEqual(await collect(storeB.get(name)), body);
  });

  test('a backend failing mid-repair leaves the other shards repaired and is named in the report', async () => {
    const fakes = fakeBackends(6);
    const backends = fakes.map((f) => new RecordingBackend(f));
    const store = new ZstorStore(backends, TEST_KEYS, OPTS);
    const a = sampleBytes(9 * CHUNK);
    const s = sampleBytes(6 * CHUNK);
    await store.put('a', [a]);
    await store.put('b', [s]);
    fakes[0]!.values.clear();
    fakes[1]!.values.clear();
    // backend 1 takes three puts, then fails every one after
    let taken = 0;
    backends[1]!.failPut = () => ++taken > 3;
    const r = await repairStore(target(backends, 4));
    assert.ok(r.failed.length >= 10, r.failed.join('\n'));
    for (const f of r.failed) assert.match(f, /b1 is unavailable|b1 failed/, f);
    // failures in both objects: one group's failure did not stop the others
    assert.ok(r.failed.some((f) => f.includes('"a"')));
    assert.ok(r.failed.some((f) => f.includes('"b"')));
    const after = await checkStore(target(fakes));
    assert.ok(after.findings.length > 0);
    for (const f of after.findings) assert.equal(f.backend, 'b1', JSON.stringify(f));
    assert.ok(r.rewritten >= r.found - after.findings.length);
    // backend 0 is whole again: with backend 1 still bad, reads need no other.
    fakes[2]!.down = true;
    assert.deepEqual(await collect(store.get('a')), a);
    assert.deepEqual(await collect(store.get('b')), s);
  });
});
