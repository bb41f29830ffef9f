import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { FakeShardBackend } from './fake-shard-backend.ts';
import { collect, fakeBackends, sampleBytes } from './test-support.ts';
import { rootKey, shardNameKey, zstorKeysFromSeed } from './zstor-keys.ts';
import { ZstorStore } from './zstor-store.ts';

const seed = Buffer.alloc(64, 5);
const options = { data: 4, parity: 2, chunkSize: 4096 };

test('a new machine with only the seed and the backend list finds every object', async () => {
  const backends = fakeBackends(7);
  const first = new ZstorStore(backends, zstorKeysFromSeed(seed), options);
  const a = sampleBytes(10_000);
  const b = randomBytes(5000);
  await first.put('a.txt', [a]);
  await first.put('dir/b.bin', [b]);
  await first.put('a.txt', [b]);
  const fresh = new ZstorStore(
    [...backends].reverse(),
    zstorKeysFromSeed(Buffer.from(seed)),
    options,
  );
  assert.deepEqual(
    (await fresh.list()).map((o) => [o.name, o.version, o.size, o.versions]),
    [
      ['a.txt', 2, 5000, 2],
      ['dir/b.bin', 1, 5000, 1],
    ],
  );
  assert.deepEqual(await collect(fresh.get('a.txt')), b);
  assert.deepEqual(await collect(fresh.get('a.txt', 1)), a);
  assert.deepEqual(await collect(fresh.get('dir/b.bin')), b);
});

test('metadata and data survive the loss of parity backends', async () => {
  const backends = fakeBackends(6);
  const store = new ZstorStore(backends, zstorKeysFromSeed(seed), options);
  const bytes = sampleBytes(20_000);
  await store.put('x', [bytes]);
  backends[1]!.down = true;
  backends[4]!.down = true;
  const fresh = new ZstorStore(backends, zstorKeysFromSeed(seed), options);
  assert.deepEqual(await collect(fresh.get('x')), bytes);
});

test('another seed sees an empty store and cannot read the root', async () => {
  const backends = fakeBackends(6);
  await new ZstorStore(backends, zstorKeysFromSeed(seed), options).put('x', [sampleBytes(100)]);
  const other = new ZstorStore(backends, zstorKeysFromSeed(Buffer.alloc(64, 6)), options);
  assert.deepEqual(await other.list(), []);
});

test('a failed root save leaves the previous generation readable', async () => {
  const backends = fakeBackends(6);
  const keys = zstorKeysFromSeed(seed);
  const store = new ZstorStore(backends, keys, options);
  await store.put('one', [sampleBytes(100)]);
  // Play a torn save: the next generation's root shards reach only two backends.
  const slot1 = rootKey(shardNameKey(keys.meta), 0);
  await store.put('two', [sampleBytes(100)]);
  for (const b of backends.slice(2)) b.values.delete(slot1.toString('hex'));
  assert.deepEqual(
    (await store.list()).map((o) => o.name),
    ['one'],
  );
});

test('remove deletes the object from the metadata and its shards from the backends', async () => {
  const backends = fakeBackends(6);
  const store = new ZstorStore(backends, zstorKeysFromSeed(seed), options);
  await store.put('keep', [sampleBytes(100)]);
  const before = backends.reduce((n, b) => n + b.values.size, 0);
  await store.put('gone', [sampleBytes(9000)]);
  await store.remove('gone');
  assert.deepEqual(
    (await store.list()).map((o) => o.name),
    ['keep'],
  );
  // What remains: keep's shards and manifest, and the root (two slots now in use).
  assert.equal(
    backends.reduce((n, b) => n + b.values.size, 0),
    before + 6,
  );
  await assert.rejects(
    collect(store.get('gone')),
    (e) => e instanceof VdcError && e.code === 'ZSTOR_OBJECT_NOT_FOUND',
  );
  await assert.rejects(
    store.remove('gone'),
    (e) => e instanceof VdcError && e.code === 'ZSTOR_OBJECT_NOT_FOUND',
  );
});

test('refuses configurations that cannot keep shards apart', () => {
  const keys = zstorKeysFromSeed(seed);
  const sameNode = [...fakeBackends(5), new FakeShardBackend('b5', 'node0')];
  assert.throws(
    () => new ZstorStore(sameNode, keys, options),
    (e) =>
      e instanceof VdcError &&
      e.code === 'ZSTOR_PLACEMENT_IMPOSSIBLE' &&
      /6 distinct nodes.*on 5/.test(e.message),
  );
  assert.throws(
    () => new ZstorStore(fakeBackends(6, 3), keys, { ...options, distinctFarms: true }),
    (e) =>
      e instanceof VdcError &&
      e.code === 'ZSTOR_PLACEMENT_IMPOSSIBLE' &&
      /distinct farms/.test(e.message),
  );
  assert.throws(
    () => new ZstorStore(fakeBackends(6), keys, { ...options, distinctFarms: true }),
    (e) =>
      e instanceof VdcError && e.code === 'ZSTOR_CONFIG_INVALID' && /no farm label/.test(e.message),
  );
  assert.throws(
    () => new ZstorStore(fakeBackends(6), keys, { data: 1, parity: 5, chunkSize: 9 * 1024 * 1024 }),
    (e) => e instanceof VdcError && e.code === 'ZSTOR_CONFIG_INVALID' && /over zdb/.test(e.message),
  );
  assert.throws(
    () => new ZstorStore(fakeBackends(6), keys, { ...options, minShards: 4 }),
    (e) => e instanceof VdcError && e.code === 'ZSTOR_CONFIG_INVALID',
  );
});

test('with distinct farms, no two shards of a chunk share a farm', async () => {
  const backends = fakeBackends(12, 6);
  const store = new ZstorStore(backends, zstorKeysFromSeed(seed), {
    ...options,
    distinctFarms: true,
  });
  const manifest = await store.put('f', [randomBytes(40_000)]);
  const farmOf = new Map(backends.map((b) => [b.id, b.farm]));
  for (const chunk of manifest.chunks)
    assert.equal(new Set(chunk.shards.map((s) => farmOf.get(s.backend!))).size, 6);
});
