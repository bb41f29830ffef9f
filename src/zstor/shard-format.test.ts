import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { decodeShard, encodeShard, SHARD_HEADER_BYTES } from './shard-format.ts';

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
