import { createHash } from 'node:crypto';
import { canonicalize } from '../core/canonical-json.ts';
import type { Tables } from './projection-state.ts';

/*
 * A projection as one canonical JSON document: every table as an array sorted by its key,
 * so two projections are equal exactly when their canonical snapshots are byte-equal. This
 * is how "rebuilt from the log equals the incremental one" is asserted, and how an audit
 * can publish a digest of the state it reached.
 */

export interface SnapshotMeta {
  ledger: string;
  size: number;
  lastAcceptedAt: number;
}

function sorted<K extends number | string, V>(map: ReadonlyMap<K, V>): V[] {
  const keys = [...map.keys()];
  keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return keys.map((k) => map.get(k)!);
}

export function snapshotOf(tables: Tables, meta: SnapshotMeta) {
  const nonces: Record<string, number> = {};
  for (const [key, nonce] of [...tables.nonces].sort(([a], [b]) => (a < b ? -1 : 1)))
    nonces[key] = nonce;
  return {
    ...meta,
    twins: sorted(tables.twins),
    farms: sorted(tables.farms),
    nodes: sorted(tables.nodes),
    gateways: sorted(tables.gateways),
    contracts: sorted(tables.contracts),
    names: sorted(tables.names),
    delegations: sorted(tables.delegations),
    members: sorted(tables.members),
    nonces,
  };
}

export type ProjectionSnapshot = ReturnType<typeof snapshotOf>;

/** RFC 8785 text of the snapshot. */
export function canonicalSnapshot(tables: Tables, meta: SnapshotMeta): string {
  return canonicalize(snapshotOf(tables, meta));
}

/** Hex SHA-256 of the canonical snapshot. */
export function snapshotDigest(tables: Tables, meta: SnapshotMeta): string {
  return createHash('sha256').update(canonicalSnapshot(tables, meta)).digest('hex');
}
