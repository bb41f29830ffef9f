import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { toHex } from '../core/hex.ts';
import { MerkleFrontier } from './merkle-frontier.ts';
import { hashLeaf } from './merkle-hash.ts';
import { MemoryMerkleTree } from './merkle-memory-tree.ts';
import { verifyConsistency, verifyInclusion } from './merkle-verify.ts';

/*
 * The tree, its proofs and their verification against a naive reference written straight
 * from the definitions of RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 (recursion over arrays),
 * for every size up to MAX and every pair of sizes.
 */

const MAX = 64;
const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const ONE = Buffer.from([1]);

function k(n: number): number {
  let p = 1;
  while (p * 2 < n) p *= 2;
  return p;
}

function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha();
  if (d.length === 1) return sha(Buffer.from([0]), d[0]!);
  const s = k(d.length);
  return sha(ONE, mth(d.slice(0, s)), mth(d.slice(s)));
}

function path(m: number, d: Buffer[]): Buffer[] {
  if (d.length === 1) return [];
  const s = k(d.length);
  return m < s
    ? [...path(m, d.slice(0, s)), mth(d.slice(s))]
    : [...path(m - s, d.slice(s)), mth(d.slice(0, s))];
}

function subproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const s = k(d.length);
  return m <= s
    ? [...subproof(m, d.slice(0, s), b), mth(d.slice(s))]
    : [...subproof(m - s, d.slice(s), false), mth(d.slice(0, s))];
}

const data = Array.from({ length: MAX }, (_, i) => Buffer.from(`leaf ${i}`));
const full = new MemoryMerkleTree();
for (const d of data) full.appendData(d);

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof VdcError) return err.code;
    throw err;
  }
  return undefined;
}

describe('Merkle tree against the naive reference', () => {
  it('gives the same root for every size 0..64', async () => {
    for (let n = 0; n <= MAX; n++)
      assert.equal(toHex(await full.root(n)), toHex(mth(data.slice(0, n))), `size ${n}`);
  });

  it('gives the same inclusion proof for every leaf of every size, and each verifies', async () => {
    for (let n = 1; n <= MAX; n++) {
      const root = mth(data.slice(0, n));
      for (let m = 0; m < n; m++) {
        const proof = await full.inclusionProof(m, n);
        assert.deepEqual(proof.path, path(m, data.slice(0, n)).map(toHex), `leaf ${m} of ${n}`);
        verifyInclusion(proof, hashLeaf(data[m]!), root);
      }
    }
  });

  it('gives the same consistency proof for every pair of sizes, and each verifies', async () => {
    for (let n = 0; n <= MAX; n++) {
      const newRoot = mth(data.slice(0, n));
      for (let m = 0; m <= n; m++) {
        const proof = await full.consistencyProof(m, n);
        const want = m === 0 || m === n ? [] : subproof(m, data.slice(0, n), true);
        assert.deepEqual(proof.path, want.map(toHex), `${m} -> ${n}`);
        verifyConsistency(proof, mth(data.slice(0, m)), newRoot);
      }
    }
  });

  it('keeps the same root and completed nodes in a frontier as in the whole tree', async () => {
    const frontier = MerkleFrontier.empty();
    for (let n = 1; n <= MAX; n++) {
      const completed = frontier.append(hashLeaf(data[n - 1]!));
      assert.equal(toHex(frontier.root()), toHex(mth(data.slice(0, n))));
      for (const node of completed)
        assert.deepEqual(full.read([node])[0], node.hash, `node ${node.level}/${node.index}`);
      const reloaded = MerkleFrontier.fromHashes(n, full.read(MerkleFrontier.subtreesFor(n)));
      assert.deepEqual(reloaded.root(), frontier.root());
    }
  });
});

describe('Merkle proof verification refuses what does not hold', () => {
  it('refuses every single-bit change, a wrong index, size, leaf or root, and a path cut or extended', async () => {
    for (let n = 1; n <= 20; n++) {
      const root = mth(data.slice(0, n));
      for (let m = 0; m < n; m++) {
        const proof = await full.inclusionProof(m, n);
        const leaf = hashLeaf(data[m]!);
        const probes = [
          { ...proof, leafIndex: m - 1 },
          { ...proof, leafIndex: m + 1 },
          { ...proof, leafIndex: m ^ 2 },
          { ...proof, treeSize: n * 2 },
          { ...proof, treeSize: Math.floor(n / 2) },
          { ...proof, path: [...proof.path, toHex(root)] },
          { ...proof, path: [toHex(root), ...proof.path] },
          { ...proof, path: proof.path.slice(1) },
        ];
        for (let i = 0; i < proof.path.length; i++) {
          const flipped = Buffer.from(proof.path[i]!, 'hex');
          flipped[0]! ^= 8;
          probes.push({ ...proof, path: proof.path.with(i, toHex(flipped)) });
        }
        for (const p of probes) {
          if (p.leafIndex < 0 || JSON.stringify(p) === JSON.stringify(proof)) continue;
          assert.equal(
            code(() => verifyInclusion(p, leaf, root)),
            'PROOF_INCLUSION_INVALID',
            JSON.stringify(p),
          );
        }
        assert.equal(
          code(() => verifyInclusion(proof, hashLeaf(Buffer.from('x')), root)),
          'PROOF_INCLUSION_INVALID',
        );
        assert.equal(
          code(() => verifyInclusion(proof, leaf, hashLeaf(Buffer.from('x')))),
          'PROOF_INCLUSION_INVALID',
        );
      }
    }
  });

  it('refuses a consistency proof changed in any way, swapped roots and a shrinking log', async () => {
    for (let n = 2; n <= 20; n++) {
      const newRoot = mth(data.slice(0, n));
      for (let m = 1; m < n; m++) {
        const oldRoot = mth(data.slice(0, m));
        const proof = await full.consistencyProof(m, n);
        const probes = [
          { ...proof, oldSize: m - 1 },
          { ...proof, oldSize: m + 1 },
          { ...proof, oldSize: m ^ 2 },
          { ...proof, newSize: n * 2 },
          { ...proof, newSize: Math.floor(n / 2) },
          { ...proof, path: [] },
          { ...proof, path: proof.path.slice(0, -1) },
          { ...proof, path: [...proof.path, toHex(newRoot)] },
          { ...proof, path: [toHex(oldRoot), ...proof.path] },
        ];
        for (let i = 0; i < proof.path.length; i++) {
          const flipped = Buffer.from(proof.path[i]!, 'hex');
          flipped[0]! ^= 16;
          probes.push({ ...proof, path: proof.path.with(i, toHex(flipped)) });
        }
        for (const p of probes) {
          if (JSON.stringify(p) === JSON.stringify(proof)) continue;
          const got = code(() => verifyConsistency(p, oldRoot, newRoot));
          assert.equal(got, 'PROOF_CONSISTENCY_INVALID', `${m}->${n}: ${JSON.stringify(p)}`);
        }
        assert.equal(
          code(() => verifyConsistency(proof, newRoot, oldRoot)),
          'PROOF_CONSISTENCY_INVALID',
        );
      }
    }
    const sameSize = { oldSize: 3, newSize: 3, path: [] };
    assert.equal(
      code(() => verifyConsistency(sameSize, mth(data.slice(0, 3)), mth(data.slice(1, 4)))),
      'PROOF_CONSISTENCY_INVALID',
    );
  });

  it('refuses malformed proofs with PROOF_MALFORMED', () => {
    const root = mth(data.slice(0, 2));
    const leaf = hashLeaf(data[0]!);
    const bad: unknown[] = [
      null,
      { leafIndex: 0, treeSize: 2 },
      { leafIndex: 0, treeSize: 2, path: ['AB'] },
      { leafIndex: -1, treeSize: 2, path: [] },
      { leafIndex: 0, treeSize: 2.5, path: [] },
      { leafIndex: 0, treeSize: 2, path: [toHex(root)], extra: 1 },
      { leafIndex: 0, treeSize: 2, path: Array(65).fill(toHex(root)) },
    ];
    for (const p of bad)
      assert.equal(
        code(() => verifyInclusion(p as never, leaf, root)),
        'PROOF_MALFORMED',
        JSON.stringify(p),
      );
  });

  it('refuses to prove a leaf outside the tree or a shrinking log', async () => {
    await assert.rejects(full.inclusionProof(5, 5), { code: 'LOG_RANGE_INVALID' });
    await assert.rejects(full.consistencyProof(6, 5), { code: 'LOG_RANGE_INVALID' });
    await assert.rejects(full.inclusionProof(0, MAX + 1), { code: 'LOG_SIZE_EXCEEDED' });
  });
});
