import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { decodeShard, decodeShardParts, encodeShard, SHARD_HEADER_BYTES } from './shard-format.ts';

const header = {
  flags: 1,
  objectId: Buffer.alloc(16, 0xab),
  version: 2 ** 40 + 3,
  chunk: 7,
  index: 5,
  data: 4,
  parity: 2,
  sealedLength: 1234,
};

test('a shard round trips with every header field at its documented offset', () => {
  const payload = randomBytes(309);
  const s = encodeShard(header, payload);
  const bytes = Buffer.concat([s.header, s.payload]);
  assert.equal(s.header.length, SHARD_HEADER_BYTES);
  assert.equal(bytes.subarray(0, 4).toString('ascii'), 'VZSH');
  assert.equal(bytes[4], 1);
  assert.equal(bytes[5], 1);
  assert.deepEqual(bytes.subarray(6, 22), header.objectId);
  assert.equal(bytes.readBigUInt64BE(22), BigInt(header.version));
  assert.equal(bytes.readBigUInt64BE(30), 7n);
  assert.deepEqual([bytes[38], bytes[39], bytes[40]], [5, 4, 2]);
  assert.equal(bytes.readUInt32BE(41), 1234);
  assert.deepEqual(bytes.subarray(45, 77), s.hash);
  const d = decodeShard(bytes, 'test');
  assert.deepEqual({ ...d, payload: Buffer.from(d.payload) }, { ...header, payload, hash: s.hash });
});

test('any flipped bit, in header or payload, fails the hash', () => {
  const s = encodeShard(header, randomBytes(64));
  const bytes = Buffer.concat([s.header, s.payload]);
  for (const at of [5, 6, 25, 38, 41, 50, 77, bytes.length - 1]) {
    const bad = Buffer.from(bytes);
    bad[at]! ^= 0x10;
    assert.throws(
      () => decodeShard(bad, 'shard 5 on b5'),
      (e) =>
        e instanceof VdcError &&
        e.code === 'ZSTOR_SHARD_CORRUPT' &&
        /shard 5 on b5/.test(e.message),
      `byte ${at}`,
    );
  }
});

test('what is not a shard is refused as malformed', () => {
  const code = (v: Uint8Array) =>
    assert.throws(
      () => decodeShard(v, 'x'),
      (e) => e instanceof VdcError && e.code === 'ZSTOR_SHARD_MALFORMED',
    );
  code(Buffer.from('hello'));
  code(Buffer.alloc(100));
  const s = encodeShard(header, Buffer.alloc(3));
  const other = Buffer.concat([s.header, s.payload]);
  other[4] = 2;
  code(other);
});

test('a shard given in pieces cut at every offset decodes as the whole one, payload as views', () => {
  const payload = randomBytes(500);
  const s = encodeShard(header, payload);
  const bytes = Buffer.concat([s.header, s.payload]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    for (const step of [cut, 7]) {
      const pieces = [bytes.subarray(0, cut)];
      for (let at = cut; at < bytes.length; at += Math.max(1, step))
        pieces.push(bytes.subarray(at, at + Math.max(1, step)));
      const d = decodeShardParts(pieces, 'test');
      assert.deepEqual(
        { ...d, payloadParts: undefined },
        { ...header, hash: s.hash, payloadParts: undefined },
      );
      assert.ok(Buffer.concat(d.payloadParts).equals(payload), `cut ${cut} step ${step}`);
      assert.ok(
        d.payloadParts.every((p) => p.buffer === bytes.buffer),
        'views, not copies',
      );
    }
  }
  // and a flipped payload byte in any piece fails the hash
  const bad = Buffer.from(bytes);
  bad[bad.length - 1]! ^= 1;
  assert.throws(
    () => decodeShardParts([bad.subarray(0, 100), bad.subarray(100)], 'x'),
    (e) => e instanceof VdcError && e.code === 'ZSTOR_SHARD_CORRUPT',
  );
  assert.throws(
    () => decodeShardParts([Buffer.from('VZ'), Buffer.from('SH')], 'x'),
    (e) => e instanceof VdcError && e.code === 'ZSTOR_SHARD_MALFORMED',
  );
});
