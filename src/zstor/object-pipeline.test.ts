import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { readObject } from './object-reader.ts';
import { writeObject } from './object-writer.ts';
import { decodeShard } from './shard-format.ts';
import {
  collect,
  fakeBackends,
  sampleBytes,
  TEST_KEYS,
  testRequest,
  testTarget,
} from './test-support.ts';
import { shardNameKey } from './zstor-keys.ts';

const source = (backends: ReturnType<typeof fakeBackends>) => ({
  backends: new Map(backends.map((b) => [b.id, b])),
  dataKey: TEST_KEYS.data,
  nameKey: shardNameKey(TEST_KEYS.meta),
});

function pieces(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

test('round trips empty, tiny, chunk-boundary and multi-chunk objects, fed in odd pieces', async () => {
  const backends = fakeBackends(6);
  const target = testTarget(backends, { chunkSize: 1000 });
  for (const size of [0, 1, 999, 1000, 1001, 2000, 5555]) {
    const bytes = sampleBytes(size);
    const manifest = await writeObject(target, testRequest(), pieces(bytes, 333));
    assert.equal(manifest.size, size);
    assert.equal(manifest.chunks.length, Math.ceil(size / 1000));
    assert.deepEqual(await collect(readObject(source(backends), manifest)), bytes, `size ${size}`);
  }
});

test('compresses what shrinks and stores incompressible chunks as they are (flag per chunk)', async () => {
  const backends = fakeBackends(6);
  const target = testTarget(backends, { chunkSize: 4096 });
  const bytes = Buffer.concat([Buffer.alloc(4096, 7), randomBytes(4096)]);
  const manifest = await writeObject(target, testRequest(), [bytes]);
  assert.equal(manifest.chunks[0]!.flags, 1);
  assert.ok(manifest.chunks[0]!.sealed < 200);
  assert.equal(manifest.chunks[1]!.flags, 0);
  assert.equal(manifest.chunks[1]!.sealed, 4096 + 16);
  assert.deepEqual(await collect(readObject(source(backends), manifest)), bytes);
});

test('every shard of a chunk goes to a different backend, with its header and hash', async () => {
  const backends = fakeBackends(8);
  const manifest = await writeObject(testTarget(backends, { chunkSize: 100 }), testRequest(), [
    randomBytes(1000),
  ]);
  for (const chunk of manifest.chunks) {
    const ids = chunk.shards.map((s) => s.backend);
    assert.equal(new Set(ids).size, 6);
  }
  const stored = backends.flatMap((b) => [...b.values.values()]);
  assert.equal(stored.length, 60);
  for (const v of stored) {
    const s = decodeShard(v, 'test');
    assert.equal(s.objectId.toString('hex'), manifest.objectId);
    assert.equal(manifest.chunks[s.chunk]!.shards[s.index]!.hash, s.hash.toString('hex'));
  }
});

test('reads back with up to parity backends down, or shards corrupted, deleted or swapped', async () => {
  const backends = fakeBackends(6);
  const bytes = sampleBytes(10_000);
  const manifest = await writeObject(testTarget(backends, { chunkSize: 3000 }), testRequest(), [
    bytes,
  ]);
  backends[0]!.down = true;
  // A data shard (index < 4), so the reader fetches it and meets the flipped byte.
  const [k1, v1] = [...backends[1]!.values.entries()].find(
    ([, v]) => decodeShard(v, 'b1').index < 4,
  )!;
  v1[v1.length - 1]! ^= 1; // flipped byte: hash mismatch
  const degraded: string[] = [];
  const told = {
    ...source(backends),
    onDegraded: (c: number, p: readonly string[]) => degraded.push(`${c}: ${p.join('; ')}`),
  };
  assert.deepEqual(await collect(readObject(told, manifest)), bytes);
  assert.ok(degraded.length > 0);
  assert.ok(
    degraded.every((d) => /on b[01] \(node node[01]\)/.test(d)),
    degraded.join('\n'),
  );
  assert.ok(
    degraded.some((d) => /on b1 \(node node1\): ZSTOR_SHARD_CORRUPT/.test(d)),
    degraded.join('\n'),
  );
  backends[0]!.down = false;
  backends[1]!.values.delete(k1);
  const [k2] = [...backends[2]!.values.keys()];
  const [, other] = [...backends[2]!.values.entries()][1]!;
  backends[2]!.values.set(k2!, Buffer.from(other)); // a valid shard under the wrong key
  assert.deepEqual(await collect(readObject(source(backends), manifest)), bytes);
});

test('parity + 1 lost backends give an error naming the missing shards and their backends', async () => {
  const backends = fakeBackends(6);
  const manifest = await writeObject(testTarget(backends), testRequest(), [sampleBytes(100)]);
  for (const b of backends.slice(0, 3)) b.down = true;
  await assert.rejects(collect(readObject(source(backends), manifest)), (e) => {
    assert.ok(e instanceof VdcError);
    assert.equal(e.code, 'ZSTOR_SHARDS_MISSING');
    assert.match(e.message, /3 good shards of 6, 4 needed/);
    for (const b of backends.slice(0, 3))
      assert.match(e.message, new RegExp(`on ${b.id} \\(node ${b.node}\\)`));
    return true;
  });
});

test('a wrong data key is refused as undecryptable', async () => {
  const backends = fakeBackends(6);
  const manifest = await writeObject(testTarget(backends), testRequest(), [sampleBytes(100)]);
  const wrong = { ...source(backends), dataKey: Buffer.alloc(32, 9) };
  await assert.rejects(
    collect(readObject(wrong, manifest)),
    (e) => e instanceof VdcError && e.code === 'ZSTOR_CHUNK_UNDECRYPTABLE',
  );
});

test('a write succeeds with minShards stored and records the missing shards for repair', async () => {
  const backends = fakeBackends(6);
  backends[5]!.down = true;
  const bytes = sampleBytes(5000);
  const manifest = await writeObject(
    testTarget(backends, { chunkSize: 1000, minShards: 5 }),
    testRequest(),
    [bytes],
  );
  const nulls = manifest.chunks.flatMap((c) => c.shards.filter((s) => s.backend === null));
  assert.ok(nulls.length >= 1);
  assert.deepEqual(await collect(readObject(source(backends), manifest)), bytes);
});

test('a write below minShards fails with the backends that failed', async () => {
  const backends = fakeBackends(6);
  backends[4]!.down = true;
  await assert.rejects(
    writeObject(testTarget(backends), testRequest(), [sampleBytes(100)]),
    (e) =>
      e instanceof VdcError &&
      e.code === 'ZSTOR_BACKEND_UNAVAILABLE' &&
      /b4: backend b4/.test(e.message),
  );
});

test('large chunks are probed: incompressible ones skip zstd, compressible ones (even with a random head) use it', async () => {
  const backends = fakeBackends(6);
  const chunkSize = 1024 * 1024;
  const target = testTarget(backends, { chunkSize });
  const randomHeadThenText = Buffer.concat([
    randomBytes(64 * 1024),
    Buffer.alloc(chunkSize - 64 * 1024, 'text '),
  ]);
  const bytes = Buffer.concat([randomBytes(chunkSize), randomHeadThenText]);
  const manifest = await writeObject(target, testRequest(), [bytes]);
  assert.deepEqual(
    manifest.chunks.map((c) => c.flags),
    [0, 1],
  );
  assert.ok(manifest.chunks[1]!.sealed < chunkSize / 4);
  assert.deepEqual(await collect(readObject(source(backends), manifest)), bytes);
});

test('a shard whose backend fails goes to a spare backend on another node', async () => {
  const backends = fakeBackends(8);
  backends[2]!.down = true;
  const bytes = sampleBytes(3000);
  const manifest = await writeObject(testTarget(backends, { chunkSize: 1000 }), testRequest(), [
    bytes,
  ]);
  for (const chunk of manifest.chunks) {
    const ids = chunk.shards.map((s) => s.backend);
    assert.ok(ids.every((id) => id !== null && id !== 'b2'));
    assert.equal(new Set(ids).size, 6);
  }
  assert.deepEqual(await collect(readObject(source(backends), manifest)), bytes);
});

test('reads shards served in pieces of any size, whole and degraded, with every byte checked', async () => {
  const backends = fakeBackends(6);
  const target = testTarget(backends, { chunkSize: 1000 });
  const bytes = sampleBytes(5555);
  const manifest = await writeObject(target, testRequest(), [bytes]);
  for (const size of [1, 7, 76, 77, 78, 250, 4096]) {
    for (const b of backends) b.servePieces(size);
    assert.deepEqual(
      await collect(readObject(source(backends), manifest)),
      bytes,
      `pieces of ${size}`,
    );
    // two backends down: every chunk is rebuilt from pieces joined for Reed-Solomon
    backends[0]!.down = true;
    backends[3]!.down = true;
    assert.deepEqual(
      await collect(readObject(source(backends), manifest)),
      bytes,
      `degraded, pieces of ${size}`,
    );
    backends[0]!.down = false;
    backends[3]!.down = false;
  }
  // a byte flipped in one stored shard is caught when read in pieces too
  const [victim] = backends[1]!.values.keys();
  backends[1]!.values.get(victim!)![100]! ^= 1;
  const problems: string[] = [];
  const got = await collect(
    readObject({ ...source(backends), onDegraded: (_c, p) => problems.push(...p) }, manifest),
  );
  assert.deepEqual(got, bytes);
  assert.ok(
    problems.some((p) => /does not match its SHA-256/.test(p)),
    problems.join('; '),
  );
});
