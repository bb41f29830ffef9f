import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { privateKeyFromSeed, rawPublicKey } from '../../src/core/keys.ts';
import { type Leaf, leafBytes } from '../../src/ledger/log-leaf.ts';
import { hashLeaf } from '../../src/ledger/merkle-hash.ts';
import { MemoryMerkleTree } from '../../src/ledger/merkle-memory-tree.ts';
import type { ConsistencyProof } from '../../src/ledger/merkle-proof.ts';
import { verifyConsistency, verifyInclusion } from '../../src/ledger/merkle-verify.ts';
import { type SignedHead, signHead, verifyHead } from '../../src/ledger/signed-head.ts';

/*
 * P6: a ledger operator who holds the ledger key rewrites, forks or rolls back its log and
 * signs new heads for it. Signatures alone cannot catch that; the consistency proof from
 * the head a client already saw can, and the client keeps its pinned head.
 */

const KEY = privateKeyFromSeed('ed25519', Buffer.alloc(32, 6));
const PUBLIC = rawPublicKey(KEY);

function leaf(seq: number, n = seq): Leaf {
  return { seq, acceptedAt: 1_700_000_000_000 + seq, tx: { type: 'test', n }, sig: 'ab' };
}

async function log(size: number, rewriteAt?: number) {
  const tree = new MemoryMerkleTree();
  for (let seq = 0; seq < size; seq++)
    tree.appendData(leafBytes(leaf(seq, seq === rewriteAt ? 999 : seq)));
  return tree;
}

async function head(tree: MemoryMerkleTree, size: number): Promise<SignedHead> {
  return signHead({ size, root: await tree.root(size), time: 1_700_000_000_000 + size }, KEY);
}

/** What a follower does with a new head: verify it, prove it extends the pinned one, then pin it. */
function advance(pinned: SignedHead, next: unknown, proof: ConsistencyProof): SignedHead {
  const verified = verifyHead(next, PUBLIC);
  verifyConsistency(
    { ...proof, oldSize: pinned.size, newSize: verified.size },
    Buffer.from(pinned.root, 'hex'),
    Buffer.from(verified.root, 'hex'),
  );
  return verified;
}

describe('P6 a rewritten, forked or rolled-back log is caught by consistency proofs', () => {
  it('accepts an honest extension', async () => {
    const honest = await log(20);
    const pinned = await head(honest, 10);
    const next = await head(honest, 20);
    assert.deepEqual(advance(pinned, next, await honest.consistencyProof(10, 20)), next);
  });

  it('refuses a validly signed head over a history rewritten at seq 5', async () => {
    const honest = await log(10);
    const rewritten = await log(20, 5);
    let pinned = await head(honest, 10);
    const before = pinned;
    const forged = await head(rewritten, 20);
    assert.doesNotThrow(() => verifyHead(forged, PUBLIC)); // the signature alone is fine
    assert.throws(
      () => {
        pinned = advance(pinned, forged, { oldSize: 10, newSize: 20, path: [] });
      },
      { code: 'PROOF_CONSISTENCY_INVALID' },
    );
    const theirProof = await rewritten.consistencyProof(10, 20);
    assert.throws(
      () => {
        pinned = advance(pinned, forged, theirProof);
      },
      { code: 'PROOF_CONSISTENCY_INVALID' },
    );
    assert.equal(pinned, before);
    // and the rewritten leaf has no inclusion proof under the head the client holds
    const proof = await rewritten.inclusionProof(5, 10);
    assert.throws(
      () =>
        verifyInclusion(proof, hashLeaf(leafBytes(leaf(5, 999))), Buffer.from(before.root, 'hex')),
      { code: 'PROOF_INCLUSION_INVALID' },
    );
  });

  it('refuses a fork: another root for a size already seen', async () => {
    const honest = await log(10);
    const fork = await log(10, 9);
    const pinned = await head(honest, 10);
    const forked = await head(fork, 10);
    assert.throws(() => advance(pinned, forked, { oldSize: 10, newSize: 10, path: [] }), {
      code: 'PROOF_CONSISTENCY_INVALID',
    });
  });

  it('refuses a roll-back to a smaller tree than the client saw', async () => {
    const honest = await log(10);
    const pinned = await head(honest, 10);
    const smaller = await head(honest, 8);
    assert.throws(() => advance(pinned, smaller, { oldSize: 10, newSize: 8, path: [] }), {
      code: 'PROOF_CONSISTENCY_INVALID',
    });
    await assert.rejects(honest.consistencyProof(10, 8), { code: 'LOG_RANGE_INVALID' });
  });
});
