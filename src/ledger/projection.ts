import { fail } from '../core/assert.ts';
import {
  canonicalSnapshot,
  type ProjectionSnapshot,
  snapshotDigest,
  snapshotOf,
} from './projection-snapshot.ts';
import {
  type Change,
  type Contract,
  type Delegation,
  type Farm,
  type Gateway,
  type IdKind,
  isContractActive,
  type LedgerNode,
  memberKey,
  type NameRecord,
  type NetworkMember,
  type ProjectionReader,
  type Tables,
  type Twin,
} from './projection-state.ts';
import type { Effect } from './rules/rule.ts';
import { authorise, checkEnvelope } from './tx-auth.ts';
import type { LeafInput, TxType } from './tx-format.ts';
import { parseLeaf } from './tx-parse.ts';
import { TX_SPECS } from './tx-types.ts';

/*
 * The state of the ledger as a projection of its log. `plan(leaf)` evaluates every check
 * and the type's rule against the current state without touching it; `commit(plan)` writes
 * the result. A refused leaf therefore leaves the projection exactly as it was, and
 * `apply(leaf)` is the two together. Stored rows are frozen: callers read them, never edit.
 */

/** What a leaf will change, computed by plan() against the projection at `seq`. */
export interface Plan {
  seq: number;
  acceptedAt: number;
  type: TxType;
  twin: number;
  signer: string;
  changes: Change[];
  created: Effect['created'];
}

/** What apply() answers: the leaf's position and the ids it created. */
export interface Applied {
  seq: number;
  type: TxType;
  twin: number;
  created: Effect['created'];
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, id: V): void {
  const list = map.get(key);
  if (list) list.push(id);
  else map.set(key, [id]);
}

export class Projection implements ProjectionReader {
  readonly ledger: string;
  #size = 0;
  #lastAcceptedAt = 0;
  readonly #t: Tables = {
    twins: new Map(),
    farms: new Map(),
    nodes: new Map(),
    gateways: new Map(),
    contracts: new Map(),
    names: new Map(),
    delegations: new Map(),
    members: new Map(),
    nonces: new Map(),
  };
  // Indexes derived from the tables; not part of the snapshot.
  readonly #twinByKey = new Map<string, number>();
  readonly #nodeByTwin = new Map<number, number>();
  readonly #gatewayByDomain = new Map<string, number>();
  readonly #contractsByNode = new Map<number, number[]>();
  readonly #contractsByTwin = new Map<number, number[]>();
  readonly #farmsByOwner = new Map<number, number[]>();
  readonly #nodesByFarm = new Map<number, number[]>();
  readonly #membersByNetwork = new Map<string, string[]>();

  /** @param ledger the id (ledgerId) of the ledger whose log this projects */
  constructor(ledger: string) {
    if (!/^[0-9a-f]{64}$/.test(ledger))
      fail('INPUT_INVALID', `'ledger' must be a ledger id (64 hex characters)`);
    this.ledger = ledger;
  }

  /**
   * A projection rebuilt from a log, leaf by leaf from seq 0.
   * @throws VdcError of the first leaf that is refused
   */
  static replay(ledger: string, leaves: Iterable<LeafInput>): Projection {
    const p = new Projection(ledger);
    for (const leaf of leaves) p.apply(leaf);
    return p;
  }

  /** Number of leaves applied: the seq the next leaf must carry. */
  get size(): number {
    return this.#size;
  }

  /** acceptedAt of the last leaf applied (0 before any). */
  get lastAcceptedAt(): number {
    return this.#lastAcceptedAt;
  }

  /**
   * Evaluates a leaf against the current state without changing it.
   * @throws VdcError TX_LEAF_*, TX_*, or the code of the rule that refuses it (docs/ledger.md)
   */
  plan(leaf: LeafInput): Plan {
    const { tx, raw, sig, seq, acceptedAt } = parseLeaf(leaf);
    if (seq !== this.#size)
      fail(
        'TX_LEAF_OUT_OF_ORDER',
        `leaf ${seq} given where leaf ${this.#size} comes next: apply leaves in log order`,
      );
    if (acceptedAt < this.#lastAcceptedAt)
      fail(
        'TX_LEAF_TIME_BACKWARDS',
        `leaf ${seq} was accepted at ${acceptedAt}, before the previous leaf (${this.#lastAcceptedAt}): acceptedAt never decreases`,
      );
    const spec = TX_SPECS[tx.type];
    const nonce = checkEnvelope(this, tx, raw, sig, acceptedAt);
    const auth = authorise(this, tx, spec.auth, acceptedAt);
    const { changes, created } = spec.rule(this, { tx, seq, acceptedAt });
    return {
      seq,
      acceptedAt,
      type: tx.type,
      twin: tx.twin,
      signer: tx.signer,
      changes: [...auth, ...changes, nonce],
      created,
    };
  }

  /**
   * Writes a plan made against the current state.
   * @throws VdcError TX_LEAF_OUT_OF_ORDER when another leaf was committed since the plan was made
   */
  commit(plan: Plan): Applied {
    if (plan.seq !== this.#size)
      fail(
        'TX_LEAF_OUT_OF_ORDER',
        `plan for leaf ${plan.seq} is stale: the projection is at ${this.#size}; plan again`,
      );
    for (const change of plan.changes) this.#write(change);
    this.#size = plan.seq + 1;
    this.#lastAcceptedAt = plan.acceptedAt;
    return { seq: plan.seq, type: plan.type, twin: plan.twin, created: plan.created };
  }

  /**
   * Validates and applies one leaf atomically: refused leaves change nothing.
   * @throws VdcError as plan()
   */
  apply(leaf: LeafInput): Applied {
    return this.commit(this.plan(leaf));
  }

  #write(change: Change): void {
    const value = deepFreeze(change.value);
    switch (change.table) {
      case 'twins': {
        const old = this.#t.twins.get(change.key);
        if (old) this.#twinByKey.delete(old.signingKey);
        if (change.value) this.#twinByKey.set(change.value.signingKey, change.key);
        break;
      }
      case 'farms':
        if (change.value && !this.#t.farms.has(change.key))
          pushTo(this.#farmsByOwner, change.value.owner, change.key);
        break;
      case 'nodes':
        if (change.value && !this.#t.nodes.has(change.key)) {
          this.#nodeByTwin.set(change.value.twin, change.key);
          pushTo(this.#nodesByFarm, change.value.farm, change.key);
        }
        break;
      case 'gateways':
        if (change.value) this.#gatewayByDomain.set(change.value.domain, change.key);
        break;
      case 'members':
        if (change.value && !this.#t.members.has(change.key))
          pushTo(
            this.#membersByNetwork,
            `${change.value.owner}/${change.value.network}`,
            change.key,
          );
        break;
      case 'contracts':
        if (change.value && !this.#t.contracts.has(change.key)) {
          pushTo(this.#contractsByNode, change.value.node, change.key);
          pushTo(this.#contractsByTwin, change.value.twin, change.key);
        }
        break;
    }
    const table = this.#t[change.table] as Map<unknown, unknown>;
    if (value === null) table.delete(change.key);
    else table.set(change.key, value);
  }

  /** Ids are sequential from 1 per table, and rows of these tables are never deleted. */
  nextId(kind: IdKind): number {
    return this.#t[kind].size + 1;
  }

  // --- snapshots

  snapshot(): ProjectionSnapshot {
    return snapshotOf(this.#t, this.#meta());
  }

  /** RFC 8785 text of the whole state: equal projections have equal canonical snapshots. */
  canonicalSnapshot(): string {
    return canonicalSnapshot(this.#t, this.#meta());
  }

  /** Hex SHA-256 of canonicalSnapshot(). */
  digest(): string {
    return snapshotDigest(this.#t, this.#meta());
  }

  #meta() {
    return { ledger: this.ledger, size: this.#size, lastAcceptedAt: this.#lastAcceptedAt };
  }

  // --- queries: twins, keys and delegations

  twin(id: number): Twin | undefined {
    return this.#t.twins.get(id);
  }

  /** The twin whose own signing key this is (not delegates). */
  twinByKey(signingKey: string): Twin | undefined {
    const id = this.#twinByKey.get(signingKey);
    return id === undefined ? undefined : this.#t.twins.get(id);
  }

  delegation(key: string): Delegation | undefined {
    return this.#t.delegations.get(key);
  }

  delegationsOf(twin: number): Delegation[] {
    return [...this.#t.delegations.values()].filter((d) => d.twin === twin);
  }

  /**
   * The twin a key may act for at `at`: its own twin, or the twin that delegated it (with
   * the delegation, whose types and counts still bound it), or undefined.
   */
  actorOf(key: string, at: number): { twin: Twin; delegation: Delegation | null } | undefined {
    const own = this.twinByKey(key);
    if (own) return { twin: own, delegation: null };
    const d = this.#t.delegations.get(key);
    if (!d || at >= d.expiresAt) return undefined;
    const twin = this.#t.twins.get(d.twin);
    return twin ? { twin, delegation: d } : undefined;
  }

  /** Last nonce accepted from a signing key. */
  nonce(key: string): number | undefined {
    return this.#t.nonces.get(key);
  }

  /** The smallest nonce a key's next transaction may carry. */
  nextNonce(key: string): number {
    return (this.#t.nonces.get(key) ?? 0) + 1;
  }

  // --- farms, nodes, gateways

  farm(id: number): Farm | undefined {
    return this.#t.farms.get(id);
  }

  farmsOf(owner: number): Farm[] {
    return (this.#farmsByOwner.get(owner) ?? []).map((id) => this.#t.farms.get(id)!);
  }

  node(id: number): LedgerNode | undefined {
    return this.#t.nodes.get(id);
  }

  nodeByTwin(twin: number): LedgerNode | undefined {
    const id = this.#nodeByTwin.get(twin);
    return id === undefined ? undefined : this.#t.nodes.get(id);
  }

  /** The node whose twin's signing key this is. */
  nodeByKey(key: string): LedgerNode | undefined {
    const twin = this.twinByKey(key);
    return twin ? this.nodeByTwin(twin.id) : undefined;
  }

  nodesOfFarm(farm: number): LedgerNode[] {
    return (this.#nodesByFarm.get(farm) ?? []).map((id) => this.#t.nodes.get(id)!);
  }

  gateway(id: number): Gateway | undefined {
    return this.#t.gateways.get(id);
  }

  gatewayByDomain(domain: string): Gateway | undefined {
    const id = this.#gatewayByDomain.get(domain);
    return id === undefined ? undefined : this.#t.gateways.get(id);
  }

  // --- contracts

  contract(id: number): Contract | undefined {
    return this.#t.contracts.get(id);
  }

  /** Every contract ever made for a node, oldest first. */
  contractsOfNode(node: number): Contract[] {
    return (this.#contractsByNode.get(node) ?? []).map((id) => this.#t.contracts.get(id)!);
  }

  /** The contracts a node must run at `at`: not cancelled, not expired. */
  activeContractsOfNode(node: number, at: number): Contract[] {
    return this.contractsOfNode(node).filter((c) => isContractActive(c, at));
  }

  contractsOfTwin(twin: number): Contract[] {
    return (this.#contractsByTwin.get(twin) ?? []).map((id) => this.#t.contracts.get(id)!);
  }

  /** The contract if it is active at `at`; what a node checks before acting (P2). */
  activeContract(id: number, at: number): Contract | undefined {
    const c = this.#t.contracts.get(id);
    return c && isContractActive(c, at) ? c : undefined;
  }

  // --- names

  /** The name contract: who holds the name, its gateway, mode, rules and allowed nodes. */
  name(name: string): NameRecord | undefined {
    return this.#t.names.get(name);
  }

  /** The name if it is registered and names this gateway: what a gateway serves. */
  nameOnGateway(gateway: number, name: string): NameRecord | undefined {
    const record = this.#t.names.get(name);
    return record?.gateway === gateway ? record : undefined;
  }

  namesOfGateway(gateway: number): NameRecord[] {
    return [...this.#t.names.values()].filter((n) => n.gateway === gateway);
  }

  namesOfTwin(twin: number): NameRecord[] {
    return [...this.#t.names.values()].filter((n) => n.twin === twin);
  }

  // --- networks

  member(owner: number, network: string, node: number): NetworkMember | undefined {
    return this.#t.members.get(memberKey(owner, network, node));
  }

  /**
   * The members of an owner's network at `at`: those whose node still holds an active
   * contract of the owner listing the network. Sorted by node id.
   */
  networkMembers(owner: number, network: string, at: number): NetworkMember[] {
    const out: NetworkMember[] = [];
    for (const key of this.#membersByNetwork.get(`${owner}/${network}`) ?? []) {
      const m = this.#t.members.get(key)!;
      const held = this.contractsOfNode(m.node).some(
        (c) => c.twin === owner && c.networks.includes(network) && isContractActive(c, at),
      );
      if (held) out.push(m);
    }
    return out.sort((a, b) => a.node - b.node);
  }
}
