import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { collect, fakeBackends } from './test-support.ts';
import { shardKey, shardNameKey, zstorKeysFromSeed } from './zstor-keys.ts';
import { ZstorStore } from './zstor-store.ts';

const keys = zstorKeysFromSeed(Buffer.alloc(64, 9));
const CHUNK = 4096;

async function storeWith(body: Buffer) {
  const backends = fakeBackends(6);
  const store = new ZstorStore(backends, keys, {
    data: 4,
    parity: 2,
    chunkSize: CHUNK,
    compressionLevel: 0,
  });
  await store.put('obj', [body]);
  return { backends, store, manifest: await store.manifest('obj') };
}

test('a range returns exactly its bytes, across chunk boundaries and past the end', async () => {
  const body = randomBytes(CHUNK * 5 + 123);
  const { store } = await storeWith(body);
  for (const [offset, length] of [
    [0, 0],
    [0, 1],
    [0, body.length],
    [1, CHUNK],
    [CHUNK - 1, 2],
    [CHUNK, CHUNK],
    [CHUNK * 2 + 7, CHUNK * 2 + 5],
    [body.length - 1, 1],
    [body.length - 10, 1000],
    [body.length, 5],
    [body.length + 100, 5],
  ] as const) {
    const got = await collect(store.get('obj', undefined, undefined, { offset, length }));
    assert.deepEqual(got, body.subarray(offset, offset + length), `range ${offset}+${length}`);
  }
});

test('a range at the end of a multi-chunk object reads only the last chunk', async () => {
  const body = randomBytes(CHUNK * 6 + 500);
  const { backends, store, manifest } = await storeWith(body);
  for (const b of backends) b.gotKeys.length = 0;
  const got = await collect(
    store.read(manifest, undefined, { offset: body.length - 300, length: 300 }),
  );
  assert.deepEqual(got, body.subarray(body.length - 300));
  const fetched = backends.flatMap((b) => b.gotKeys);
  const last = manifest.chunks.length - 1;
  const objectId = Buffer.from(manifest.objectId, 'hex');
  const nameKey = shardNameKey(keys.meta);
  const lastChunkData = Array.from({ length: 4 }, (_, i) =>
    shardKey(nameKey, objectId, manifest.version, last, i).toString('hex'),
  );
  // the systematic code needs only the 4 data shards of the last chunk, nothing else
  assert.deepEqual(fetched.sort(), lastChunkData.sort());
});

test('a range in the middle reads only the chunks it covers', async () => {
  const body = randomBytes(CHUNK * 8);
  const { backends, store, manifest } = await storeWith(body);
  for (const b of backends) b.gotKeys.length = 0;
  const offset = CHUNK * 3 + 10;
  const got = await collect(store.read(manifest, undefined, { offset, length: CHUNK }));
  assert.deepEqual(got, body.subarray(offset, offset + CHUNK));
  assert.equal(
    backends.reduce((n, b) => n + b.gotKeys.length, 0),
    2 * 4,
    'chunks 3 and 4 only',
  );
});

test('a negative or fractional range is refused with INPUT_INVALID', async () => {
  const { store } = await storeWith(randomBytes(100));
  for (const range of [
    { offset: -1, length: 5 },
    { offset: 0, length: 1.5 },
  ])
    await assert.rejects(collect(store.get('obj', undefined, undefined, range)), (e: unknown) => {
      assert.ok(e instanceof VdcError);
      assert.equal(e.code, 'INPUT_INVALID');
      return true;
    });
});
