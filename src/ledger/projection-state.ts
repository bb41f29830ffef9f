import type { DelegableType } from './tx-format.ts';

/*
 * The records of the projection: the state every party derives from the log. All values
 * are plain JSON (null, never undefined) so a snapshot is canonical JSON and two
 * projections are equal exactly when their canonical snapshots are.
 */

export interface Twin {
  id: number;
  /** Hex Ed25519 public key; unique among twins and delegated keys. */
  signingKey: string;
  /** Hex X25519 public key others encrypt to. */
  encryptionKey: string;
  relays: string[];
  createdAt: number;
  updatedAt: number;
}

export interface Farm {
  id: number;
  owner: number;
  name: string;
  createdAt: number;
}

export interface Resources {
  cpu: number;
  memory: number;
  disk: number;
}

export interface NodeReport {
  at: number;
  uptime: number;
  capacity: { total: Resources; used: Resources };
}

export interface VerifiedHead {
  size: number;
  root: string;
  /** acceptedAt of the report that carried it. */
  at: number;
}

export interface LedgerNode {
  id: number;
  /** The node's own twin, created by node.register with the node key as its signing key. */
  twin: number;
  farm: number;
  registeredAt: number;
  report: NodeReport | null;
  head: VerifiedHead | null;
}

export interface Gateway {
  id: number;
  farm: number;
  domain: string;
  tunnelAddress: string;
  tunnelSpkiSha256: string;
  registeredAt: number;
}

export type CancelReason = 'user' | 'heal';

export interface Contract {
  id: number;
  twin: number;
  node: number;
  deploymentHash: string;
  /** The deployment encrypted to its owner, base64; opaque to the ledger. */
  deployment: string;
  networks: string[];
  expiresAt: number;
  createdAt: number;
  updatedAt: number;
  /** Number of contract.update transactions applied. */
  version: number;
  cancelledAt: number | null;
  cancelReason: CancelReason | null;
}

export type NameMode = 'tls-passthrough' | 'http';

export interface NameRules {
  methods?: string[];
  pathPrefixes?: string[];
  rateLimit?: { requests: number; perSeconds: number };
  allow?: string[];
  deny?: string[];
  maxBodyBytes?: number;
  maxHeaderBytes?: number;
  timeouts?: { connectMs?: number; idleMs?: number; requestMs?: number };
  /** http mode over TLS: hex SHA-256 of the DER leaf certificate the backend presents */
  tlsCertSha256?: string;
}

export interface NameRecord {
  name: string;
  twin: number;
  gateway: number;
  mode: NameMode;
  rules: NameRules;
  nodes: number[];
  registeredAt: number;
  updatedAt: number;
}

export interface Delegation {
  /** Hex Ed25519 public key of the delegate. */
  key: string;
  twin: number;
  types: DelegableType[];
  /** Most uses per type; a type absent here is unlimited. */
  counts: Partial<Record<DelegableType, number>>;
  used: Partial<Record<DelegableType, number>>;
  expiresAt: number;
  grantedAt: number;
}

export interface NetworkMember {
  owner: number;
  network: string;
  node: number;
  /** WireGuard public key, base64 as `wg` prints it. */
  publicKey: string;
  endpoint: string | null;
  updatedAt: number;
}

export interface Tables {
  twins: Map<number, Twin>;
  farms: Map<number, Farm>;
  nodes: Map<number, LedgerNode>;
  gateways: Map<number, Gateway>;
  contracts: Map<number, Contract>;
  names: Map<string, NameRecord>;
  /** By delegate key. */
  delegations: Map<string, Delegation>;
  /** By memberKey(owner, network, node). */
  members: Map<string, NetworkMember>;
  /** Last accepted nonce by signing key. */
  nonces: Map<string, number>;
}

export type TableName = keyof Tables;
type KeyOf<M> = M extends Map<infer K, unknown> ? K : never;
type ValueOf<M> = M extends Map<unknown, infer V> ? V : never;

/** One write of a rule's outcome: `value` null deletes the row. */
export type Change = {
  [T in TableName]: { table: T; key: KeyOf<Tables[T]>; value: ValueOf<Tables[T]> | null };
}[TableName];

/** Tables whose ids are sequential from 1 and whose rows are never deleted. */
export type IdKind = 'twins' | 'farms' | 'nodes' | 'gateways' | 'contracts';

export function memberKey(owner: number, network: string, node: number): string {
  return `${owner}/${network}/${node}`;
}

/** Active at `at`: not cancelled and not yet expired. */
export function isContractActive(contract: Contract, at: number): boolean {
  return contract.cancelledAt === null && at < contract.expiresAt;
}

/** The read-only view rules are evaluated against. */
export interface ProjectionReader {
  readonly ledger: string;
  /** Number of leaves applied, which is the seq of the next leaf. */
  readonly size: number;
  twin(id: number): Twin | undefined;
  twinByKey(signingKey: string): Twin | undefined;
  delegation(key: string): Delegation | undefined;
  farm(id: number): Farm | undefined;
  node(id: number): LedgerNode | undefined;
  nodeByTwin(twin: number): LedgerNode | undefined;
  gateway(id: number): Gateway | undefined;
  gatewayByDomain(domain: string): Gateway | undefined;
  contract(id: number): Contract | undefined;
  contractsOfNode(node: number): Contract[];
  name(name: string): NameRecord | undefined;
  member(owner: number, network: string, node: number): NetworkMember | undefined;
  nonce(key: string): number | undefined;
  nextId(kind: IdKind): number;
}
