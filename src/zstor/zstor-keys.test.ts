import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { rechunk } from './chunker.ts';
import {
  chunkNonce,
  objectKey,
  rootKey,
  shardKey,
  shardNameKey,
  versionKey,
  zstorKeysFromSeed,
} from './zstor-keys.ts';

const seed = Buffer.from(
  '408b285c123836004f4b8842c89324c1f01382450c0d439af345ba7fc49acf705489c6fc77dbd4e3dc1dd8cc6bc9f043db8ada1e243c4a0eafb290d399480840',
  'hex',
);

/** The `vectors` block of docs/zstor.md, so the documented values cannot drift from the code. */
function documentedVectors(): Record<string, string> {
  const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'zstor.md'), 'utf8');
  const block = /```vectors\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block !== undefined, 'docs/zstor.md has a vectors block');
  return Object.fromEntries(
    block
      .trim()
      .split('\n')
      .map((line) => line.split(' = ') as [string, string]),
  );
}

test('keys are fixed functions of the seed, as documented in docs/zstor.md', () => {
  const keys = zstorKeysFromSeed(seed);
  const objectId = Buffer.alloc(16, 1);
  const obj = objectKey(keys.data, objectId);
  const name = shardNameKey(keys.meta);
  const computed = {
    seed: seed.toString('hex'),
    'vdc/zstor-data/0': keys.data.toString('hex'),
    'vdc/zstor-meta/0': keys.meta.toString('hex'),
    'object key (id 01..01)': obj.toString('hex'),
    'version key (version 1, salt 02..02)': versionKey(obj, 1, Buffer.alloc(16, 2)).toString('hex'),
    'shard name key': name.toString('hex'),
    'shard key (id 01..01, version 1, chunk 0, index 0)': shardKey(
      name,
      objectId,
      1,
      0,
      0,
    ).toString('hex'),
    'root key slot 0': rootKey(name, 0).toString('hex'),
    'root key slot 1': rootKey(name, 1).toString('hex'),
  };
  assert.deepEqual(computed, documentedVectors());
});

test('every input of a key changes it; nonces differ per chunk', () => {
  const keys = zstorKeysFromSeed(seed);
  const name = shardNameKey(keys.meta);
  const id = Buffer.alloc(16, 1);
  const all = [
    shardKey(name, id, 1, 0, 0),
    shardKey(name, id, 2, 0, 0),
    shardKey(name, id, 1, 1, 0),
    shardKey(name, id, 1, 0, 1),
    shardKey(name, Buffer.alloc(16, 2), 1, 0, 0),
    rootKey(name, 0),
    rootKey(name, 1),
  ].map((k) => k.toString('hex'));
  assert.equal(new Set(all).size, all.length);
  const obj = objectKey(keys.data, id);
  assert.notDeepEqual(versionKey(obj, 1, Buffer.alloc(16)), versionKey(obj, 2, Buffer.alloc(16)));
  assert.notDeepEqual(
    versionKey(obj, 1, Buffer.alloc(16)),
    versionKey(obj, 1, Buffer.alloc(16, 1)),
  );
  assert.deepEqual(chunkNonce(0x0102), Buffer.from('000000000000000000000102', 'hex'));
  assert.notDeepEqual(keys.data, keys.meta);
});

test('rechunk cuts any pieces into exact chunks and yields nothing for an empty stream', async () => {
  const sizes = async (pieces: number[], size: number) => {
    const out: number[] = [];
    for await (const c of rechunk(
      pieces.map((n) => Buffer.alloc(n, 1)),
      size,
    ))
      out.push(c.length);
    return out;
  };
  assert.deepEqual(await sizes([], 4), []);
  assert.deepEqual(await sizes([0, 0], 4), []);
  assert.deepEqual(await sizes([3, 3, 3], 4), [4, 4, 1]);
  assert.deepEqual(await sizes([8], 4), [4, 4]);
  assert.deepEqual(await sizes([1, 10, 1], 5), [5, 5, 2]);
});

test('rechunk with a ring reuses its buffers in turn and still cuts correctly', async () => {
  const seen: Buffer[] = [];
  const sums: number[] = [];
  for await (const c of rechunk([Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])], 2, 3)) {
    seen.push(c);
    sums.push(c[0]!);
  }
  assert.deepEqual(sums, [1, 3, 5, 7, 9, 11]);
  const place = (b: Buffer) => [b.buffer, b.byteOffset];
  assert.deepEqual(place(seen[0]!), place(seen[3]!));
  assert.notDeepEqual(place(seen[0]!), place(seen[1]!));
});
