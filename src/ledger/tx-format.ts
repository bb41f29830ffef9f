/*
 * The transaction format (docs/ledger.md): a transaction `{type, twin, signer, nonce,
 * ledger, body, time?}` is signed under vdc/tx/v1 by `signer`; a submission is
 * `{tx, sig}`; the ledger wraps an accepted submission as the leaf `{seq, acceptedAt, tx,
 * sig}`. Limits here are part of the protocol: every party enforces the same ones, so an
 * offline audit reaches the verdict the ledger reached.
 */

export const TX_TYPES = [
  'twin.create',
  'twin.update',
  'delegate.grant',
  'delegate.revoke',
  'farm.create',
  'node.register',
  'node.report',
  'gateway.register',
  'gateway.update',
  'contract.create',
  'contract.update',
  'contract.cancel',
  'name.register',
  'name.update',
  'name.release',
  'network.member',
] as const;

export type TxType = (typeof TX_TYPES)[number];

/** Types a delegate may be granted; the rest need the twin's (or the node's) own key. */
export const DELEGABLE_TYPES = [
  'farm.create',
  'gateway.register',
  'gateway.update',
  'contract.create',
  'contract.update',
  'contract.cancel',
  'name.register',
  'name.update',
  'name.release',
] as const satisfies readonly TxType[];

export type DelegableType = (typeof DELEGABLE_TYPES)[number];

/** A whole submission as JSON text, in bytes. */
export const MAX_SUBMISSION_BYTES = 65_536;
/** The canonical JSON of a body, in bytes. */
export const MAX_BODY_BYTES = 49_152;
/** Ids of twins, farms, nodes, gateways and contracts. */
export const MAX_ID = 2 ** 48;
export const MAX_NONCE = Number.MAX_SAFE_INTEGER;
/** Largest difference between a transaction's claimed `time` and the leaf's `acceptedAt`. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
/** Longest term of a contract or a delegation, counted from `acceptedAt`. */
export const MAX_TERM_MS = 5 * 366 * 24 * 3600_000;

export interface Transaction<B = Record<string, unknown>> {
  type: TxType;
  /** The twin the transaction acts for; 0 for the types that create their signer's twin. */
  twin: number;
  /** Hex Ed25519 public key that signed: the twin's own key or one it delegated. */
  signer: string;
  nonce: number;
  /** Hex SHA-256 of the ledger's public key (ledgerId). */
  ledger: string;
  body: B;
  /** The signer's own clock when it signed, Unix ms; optional. */
  time?: number;
}

export interface Submission {
  tx: Transaction;
  /** Hex Ed25519 signature over `vdc/tx/v1 || 0x00 || canonical(tx)`. */
  sig: string;
}

export interface TxLeaf extends Submission {
  /** Position in the log, from 0. */
  seq: number;
  /** The ledger's time when it accepted the transaction, Unix ms; every rule is evaluated at it. */
  acceptedAt: number;
}

/**
 * Any leaf-shaped value, such as the log's own leaf type: the projection parses `tx` and
 * `sig` strictly itself, so it takes them untyped.
 */
export interface LeafInput {
  seq: number;
  acceptedAt: number;
  tx: object;
  sig: string;
}

/** Types that create the signer's own twin, so `twin` is 0 and the signer is a new key. */
export const SELF_TYPES: readonly TxType[] = ['twin.create', 'node.register'];

export function isTxType(value: unknown): value is TxType {
  return typeof value === 'string' && (TX_TYPES as readonly string[]).includes(value);
}

export function isDelegableType(value: unknown): value is DelegableType {
  return typeof value === 'string' && (DELEGABLE_TYPES as readonly string[]).includes(value);
}
