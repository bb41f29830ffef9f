import { fail } from '../core/assert.ts';
import type { ShardBackend } from './shard-backend.ts';

/*
 * Which backend gets which shard of a chunk. Rules: one shard per backend per chunk; no two
 * shards of one chunk on one node; with `distinctFarms`, none on one farm either. Chunks
 * start at a different backend each (rotation by chunk index), which spreads load when
 * there are more backends than shards. Because each node sits in one farm (checked), a set
 * of distinct farms is a set of distinct nodes, so the greedy pick below finds a placement
 * whenever one exists.
 */

export interface PlacementRules {
  readonly total: number;
  readonly distinctFarms: boolean;
}

/**
 * Checks once, up front, that `backends` can hold `total` shards of every chunk.
 * @throws VdcError ZSTOR_PLACEMENT_IMPOSSIBLE naming what is short
 * @throws VdcError ZSTOR_CONFIG_INVALID on duplicate ids or a node in two farms
 */
export function checkPlacement(backends: readonly ShardBackend[], rules: PlacementRules): void {
  const ids = new Set<string>();
  const farmOfNode = new Map<string, string | undefined>();
  for (const b of backends) {
    if (ids.has(b.id)) fail('ZSTOR_CONFIG_INVALID', `backend ${b.id} is listed twice`);
    ids.add(b.id);
    if (farmOfNode.has(b.node) && farmOfNode.get(b.node) !== b.farm)
      fail(
        'ZSTOR_CONFIG_INVALID',
        `node ${b.node} is given farms ${farmOfNode.get(b.node) ?? '(none)'} and ${b.farm ?? '(none)'}: a node is in one farm`,
      );
    farmOfNode.set(b.node, b.farm);
    if (rules.distinctFarms && b.farm === undefined)
      fail(
        'ZSTOR_CONFIG_INVALID',
        `backend ${b.id} has no farm label, but distinct farms were asked for`,
      );
  }
  const nodes = new Set(backends.map((b) => b.node)).size;
  if (nodes < rules.total)
    fail(
      'ZSTOR_PLACEMENT_IMPOSSIBLE',
      `${rules.total} shards per chunk need ${rules.total} distinct nodes, the backends are on ${nodes}: add backends on other nodes or lower data + parity`,
    );
  if (rules.distinctFarms) {
    const farms = new Set(backends.map((b) => b.farm)).size;
    if (farms < rules.total)
      fail(
        'ZSTOR_PLACEMENT_IMPOSSIBLE',
        `${rules.total} shards per chunk need ${rules.total} distinct farms, the backends are in ${farms}: add backends in other farms, lower data + parity, or drop distinctFarms`,
      );
  }
}

/**
 * The backends for the shards of chunk `chunk`, in shard-index order, skipping `exclude`
 * (backends known to be down). Returns fewer than `total` when the healthy backends cannot
 * hold them all; callers decide whether that is enough.
 */
export function placeChunk(
  backends: readonly ShardBackend[],
  rules: PlacementRules,
  chunk: number,
  exclude: ReadonlySet<string> = new Set(),
): ShardBackend[] {
  const chosen: ShardBackend[] = [];
  const nodes = new Set<string>();
  const farms = new Set<string | undefined>();
  const n = backends.length;
  for (let i = 0; i < n && chosen.length < rules.total; i++) {
    const b = backends[(chunk + i) % n]!;
    if (exclude.has(b.id) || nodes.has(b.node)) continue;
    if (rules.distinctFarms && farms.has(b.farm)) continue;
    chosen.push(b);
    nodes.add(b.node);
    farms.add(b.farm);
  }
  return chosen;
}
