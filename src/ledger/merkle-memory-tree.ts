import { fail } from '../core/assert.ts';
import { hashChildren, hashLeaf } from './merkle-hash.ts';
import {
  buildConsistencyProof,
  buildInclusionProof,
  type ConsistencyProof,
  type InclusionProof,
  rootAt,
} from './merkle-proof.ts';
import type { SubtreeId } from './merkle-range.ts';

/*
 * A whole tree in memory: every complete subtree hash, level by level. The reference the
 * stores are tested against, and a convenient prover for small logs (tests, tools).
 * Memory grows with the log (about 2·n hashes), so servers prove from their store instead.
 */
export class MemoryMerkleTree {
  private readonly levels: Buffer[][] = [[]];

  get size(): number {
    return this.levels[0]!.length;
  }

  /** Appends raw leaf data (hashed as an RFC 9162 leaf). */
  appendData(data: Uint8Array): void {
    this.appendHash(hashLeaf(data));
  }

  appendHash(leafHash: Buffer): void {
    let level = 0;
    let hash = leafHash;
    for (;;) {
      let row = this.levels[level];
      if (row === undefined) {
        row = [];
        this.levels.push(row);
      }
      row.push(hash);
      if (row.length % 2 === 1) return;
      hash = hashChildren(row[row.length - 2]!, hash);
      level++;
    }
  }

  readonly read = (ids: readonly SubtreeId[]): Buffer[] =>
    ids.map(({ level, index }) => {
      const hash = this.levels[level]?.[index];
      if (hash === undefined)
        fail('STORE_CORRUPT', `no complete subtree at level ${level}, index ${index}`);
      return hash;
    });

  private within(size: number): number {
    if (size > this.size)
      fail('LOG_SIZE_EXCEEDED', `the tree has ${this.size} leaves, not ${size}`);
    return size;
  }

  async root(size = this.size): Promise<Buffer> {
    return rootAt(this.read, this.within(size));
  }

  async inclusionProof(leafIndex: number, treeSize = this.size): Promise<InclusionProof> {
    return buildInclusionProof(this.read, leafIndex, this.within(treeSize));
  }

  async consistencyProof(oldSize: number, newSize = this.size): Promise<ConsistencyProof> {
    return buildConsistencyProof(this.read, oldSize, this.within(newSize));
  }
}
