import { fail } from '../core/assert.ts';
import { EMPTY_ROOT, hashChildren } from './merkle-hash.ts';
import { foldSubtrees, type SubtreeId, type SubtreeNode, subtreesOf } from './merkle-range.ts';

/*
 * The right edge of a growing tree: the hashes of the complete subtrees that make up the
 * first `size` leaves (one per set bit of size, largest first). Appending a leaf merges
 * equal-sized neighbours as a binary counter carries, and yields each interior node that
 * becomes complete, so a writer stores every node exactly once and holds only O(log n)
 * hashes in memory however long the log grows.
 */
export class MerkleFrontier {
  private readonly nodes: SubtreeNode[];
  private count: number;

  private constructor(size: number, nodes: SubtreeNode[]) {
    this.count = size;
    this.nodes = nodes;
  }

  /** The subtrees a frontier of `size` leaves is made of, in the order fromSubtrees takes them. */
  static subtreesFor(size: number): SubtreeId[] {
    return size === 0 ? [] : subtreesOf({ start: 0, end: size });
  }

  /** A frontier for `size` leaves from the hashes of subtreesFor(size). */
  static fromHashes(size: number, hashes: readonly Buffer[]): MerkleFrontier {
    const ids = MerkleFrontier.subtreesFor(size);
    if (ids.length !== hashes.length)
      fail(
        'STORE_CORRUPT',
        `a tree of ${size} leaves has ${ids.length} edge subtrees, got ${hashes.length}`,
      );
    return new MerkleFrontier(
      size,
      ids.map((id, i) => ({ ...id, hash: hashes[i]! })),
    );
  }

  static empty(): MerkleFrontier {
    return new MerkleFrontier(0, []);
  }

  get size(): number {
    return this.count;
  }

  /** Adds a leaf hash; returns the interior nodes (level >= 1) it completes, lowest first. */
  append(leafHash: Buffer): SubtreeNode[] {
    const completed: SubtreeNode[] = [];
    let node: SubtreeNode = { level: 0, index: this.count, hash: leafHash };
    for (;;) {
      const last = this.nodes[this.nodes.length - 1];
      if (last === undefined || last.level !== node.level) break;
      this.nodes.pop();
      node = {
        level: node.level + 1,
        index: last.index / 2,
        hash: hashChildren(last.hash, node.hash),
      };
      completed.push(node);
    }
    this.nodes.push(node);
    this.count++;
    return completed;
  }

  /** MTH of the leaves so far. */
  root(): Buffer {
    return this.nodes.length === 0 ? EMPTY_ROOT : foldSubtrees(this.nodes.map((n) => n.hash));
  }

  /** A copy that can be advanced without moving this one (to compute a root before commit). */
  clone(): MerkleFrontier {
    return new MerkleFrontier(this.count, [...this.nodes]);
  }
}
