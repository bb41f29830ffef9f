import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toHex } from '../core/hex.ts';
import { EMPTY_ROOT, hashChildren, hashLeaf } from './merkle-hash.ts';
import { MemoryMerkleTree } from './merkle-memory-tree.ts';
import { verifyConsistency, verifyInclusion } from './merkle-verify.ts';

/*
 * Known-answer vectors from transparency-dev/merkle (rfc6962/rfc6962_test.go and
 * proof/verify_test.go, Apache-2.0): the eight RFC 6962 test leaves, the roots of the
 * trees of 1..8 of them, and inclusion and consistency proofs. Transcribed, not computed.
 */

const LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map((h) => Buffer.from(h, 'hex'));

const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

// leaf is 1-based in the source; here as the 0-based leafIndex.
const INCLUSION = [
  {
    leafIndex: 0,
    treeSize: 8,
    path: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    leafIndex: 5,
    treeSize: 8,
    path: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    leafIndex: 2,
    treeSize: 3,
    path: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'],
  },
  {
    leafIndex: 1,
    treeSize: 5,
    path: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];

const CONSISTENCY = [
  { oldSize: 1, newSize: 1, path: [] },
  {
    oldSize: 1,
    newSize: 8,
    path: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    oldSize: 6,
    newSize: 8,
    path: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    oldSize: 2,
    newSize: 5,
    path: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    oldSize: 6,
    newSize: 7,
    path: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

function tree(): MemoryMerkleTree {
  const t = new MemoryMerkleTree();
  for (const leaf of LEAVES) t.appendData(leaf);
  return t;
}

const root = (size: number) => Buffer.from(ROOTS[size - 1]!, 'hex');

describe('RFC 9162 hashing against known answers', () => {
  it('hashes the empty tree, an empty leaf, a leaf and a node', () => {
    assert.equal(
      toHex(EMPTY_ROOT),
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    assert.equal(
      toHex(hashLeaf(Buffer.alloc(0))),
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    );
    assert.equal(
      toHex(hashLeaf(Buffer.from('L123456'))),
      '395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56',
    );
    assert.equal(
      toHex(hashChildren(Buffer.from('N123'), Buffer.from('N456'))),
      'aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb',
    );
  });

  it('computes the published roots of the trees of 0..8 test leaves', async () => {
    const t = tree();
    assert.deepEqual(await t.root(0), EMPTY_ROOT);
    for (let size = 1; size <= 8; size++) assert.equal(toHex(await t.root(size)), ROOTS[size - 1]);
  });
});

describe('RFC 9162 proofs against known answers', () => {
  for (const v of INCLUSION) {
    it(`generates and verifies the published inclusion proof of leaf ${v.leafIndex} in ${v.treeSize}`, async () => {
      assert.deepEqual(await tree().inclusionProof(v.leafIndex, v.treeSize), v);
      verifyInclusion(v, hashLeaf(LEAVES[v.leafIndex]!), root(v.treeSize));
    });
  }

  for (const v of CONSISTENCY) {
    it(`generates and verifies the published consistency proof ${v.oldSize} -> ${v.newSize}`, async () => {
      assert.deepEqual(await tree().consistencyProof(v.oldSize, v.newSize), v);
      verifyConsistency(v, root(v.oldSize), root(v.newSize));
    });
  }
});
