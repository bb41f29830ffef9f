import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeLeaf, type Leaf, leafBytes, parseLeafBytes } from './log-leaf.ts';
import { hashLeaf } from './merkle-hash.ts';

const leaf: Leaf = {
  seq: 3,
  acceptedAt: 1_700_000_000_000,
  tx: { type: 't', z: 1, a: [true] },
  sig: 'ab01',
};

describe('log leaves', () => {
  it('encodes a leaf as RFC 8785 canonical JSON and hashes it as an RFC 9162 leaf', () => {
    const bytes = leafBytes(leaf);
    assert.equal(
      bytes.toString(),
      '{"acceptedAt":1700000000000,"seq":3,"sig":"ab01","tx":{"a":[true],"type":"t","z":1}}',
    );
    const encoded = encodeLeaf(leaf);
    assert.deepEqual(encoded, { seq: 3, bytes, hash: hashLeaf(bytes) });
    assert.deepEqual(parseLeafBytes(bytes), leaf);
  });

  it('refuses bytes that are not the one canonical encoding of a well-formed leaf', () => {
    const bad = [
      '{"seq":3,"acceptedAt":1700000000000,"tx":{},"sig":"ab"}', // key order
      '{"acceptedAt":1700000000000, "seq":3,"sig":"ab","tx":{}}', // whitespace
      '{"acceptedAt":1,"seq":3,"seq":4,"sig":"ab","tx":{}}', // duplicate key
      '{"acceptedAt":1,"extra":0,"seq":3,"sig":"ab","tx":{}}',
      '{"acceptedAt":1,"seq":-1,"sig":"ab","tx":{}}',
      '{"acceptedAt":1,"seq":3,"sig":"AB","tx":{}}',
      '{"acceptedAt":1,"seq":3,"sig":"ab","tx":[]}',
      'not json',
    ];
    for (const text of bad)
      assert.throws(() => parseLeafBytes(Buffer.from(text)), { code: 'LOG_LEAF_MALFORMED' }, text);
    assert.throws(() => encodeLeaf({ ...leaf, acceptedAt: 1.5 }), { code: 'LOG_LEAF_MALFORMED' });
  });
});
