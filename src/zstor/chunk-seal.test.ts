import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import {
  openChunk,
  SEAL_OVERHEAD,
  sealChunk,
  sealedDataShards,
  sealedShardLength,
} from './chunk-seal.ts';

const key = Buffer.alloc(32, 5);
const place = { objectId: Buffer.alloc(16, 9), version: 3, chunk: 11 };

/** Cuts each shard into pieces of `size` bytes (views). */
const inPieces = (shards: readonly Uint8Array[], size: number) =>
  shards.map((s) => {
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < s.length; at += size) pieces.push(s.subarray(at, at + size));
    return pieces.length > 0 ? pieces : [s];
  });

test('sealing into a reused area gives the same shards as sealing into fresh buffers', () => {
  for (const length of [0, 1, 15, 16, 17, 1000, 3 * 1024 * 1024 + 5]) {
    const body = randomBytes(length);
    const fresh = sealedDataShards(sealChunk(key, place, { body, flags: 0 }), 4);
    const area = Buffer.alloc(sealedShardLength(length + SEAL_OVERHEAD, 4) * 4 + 10, 0xee);
    const sealed = sealChunk(key, place, { body, flags: 0 }, area);
    assert.equal(sealed.area, area);
    const shards = sealedDataShards(sealed, 4);
    assert.deepEqual(
      shards.map((s) => Buffer.from(s).toString('hex')),
      fresh.map((s) => Buffer.from(s).toString('hex')),
      `length ${length}`,
    );
    assert.ok(
      shards.every((s) => s.buffer === area.buffer),
      'the shards are views of the area',
    );
  }
});

test('a chunk opens from shards given in pieces of any size, tag split across them', async () => {
  const body = randomBytes(70_001);
  const shards = sealedDataShards(sealChunk(key, place, { body, flags: 0 }), 4);
  const sealedLength = body.length + SEAL_OVERHEAD;
  for (const size of [1, 3, 16, 17, 4096, 17_500, 17_505, 1 << 20]) {
    const plain = await openChunk(key, place, inPieces(shards, size), sealedLength, 0, body.length);
    assert.ok(Buffer.concat(plain).equals(body), `pieces of ${size}`);
  }
});

test('a flipped byte in any piece fails authentication', async () => {
  const body = randomBytes(5000);
  const shards = sealedDataShards(sealChunk(key, place, { body, flags: 0 }), 4);
  for (const at of [0, 1249, 1250 * 3 + 1000]) {
    const bad = shards.map((s) => Buffer.from(s));
    bad[Math.floor(at / bad[0]!.length)]![at % bad[0]!.length]! ^= 1;
    await assert.rejects(
      openChunk(key, place, inPieces(bad, 100), body.length + SEAL_OVERHEAD, 0, body.length),
      (e: unknown) => e instanceof VdcError && e.code === 'ZSTOR_CHUNK_UNDECRYPTABLE',
    );
  }
});
