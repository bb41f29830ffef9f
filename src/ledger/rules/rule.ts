import { fail } from '../../core/assert.ts';
import type { ErrorCode } from '../../core/error-codes.ts';
import type { Change, IdKind, ProjectionReader } from '../projection-state.ts';
import { readObject } from '../tx-fields.ts';
import type { Transaction } from '../tx-format.ts';

/*
 * What every rule is: a pure function of the projection (read only) and the leaf, evaluated
 * at the leaf's `acceptedAt`, returning the writes it makes or throwing a VdcError that
 * names the rule. Rules never read a clock, so replaying the log reaches the same verdicts.
 */

/**
 * Who may sign a type: `self` creates the signer's own twin (`twin` is 0); `owner` needs
 * the twin's own signing key; `owner-or-delegate` also takes a key the twin delegated the
 * type to.
 */
export type Auth = 'self' | 'owner' | 'owner-or-delegate';

export interface RuleInput<B> {
  tx: Transaction<B>;
  seq: number;
  acceptedAt: number;
}

export interface Effect {
  changes: Change[];
  /** Ids this transaction created, for the submitter's answer. */
  created: Partial<Record<IdKind, number>>;
}

export type Rule<B> = (state: ProjectionReader, input: RuleInput<B>) => Effect;

export interface TxSpec<B> {
  auth: Auth;
  /** Strict parse of the body; throws TX_BODY_INVALID naming the field. */
  parseBody(value: unknown): B;
  rule: Rule<B>;
}

/** Erases the body type so specs of every type fit one registry. */
export function defineTx<B>(spec: TxSpec<B>): TxSpec<unknown> {
  return spec as unknown as TxSpec<unknown>;
}

export function bodyObject(
  value: unknown,
  required: readonly string[],
  optional: readonly string[] = [],
): Record<string, unknown> {
  return readObject(value, 'body', required, optional, 'TX_BODY_INVALID');
}

/** Refuses the transaction under a rule: the message names the rule and what to do. */
export function refuse(code: ErrorCode, message: string): never {
  fail(code, message);
}

/**
 * Twin keys are unique: a key is at most one twin's signing key or one delegation's key, so
 * a signature names one actor and one twin. Returns what holds the key, or null.
 */
export function keyHolder(state: ProjectionReader, key: string): string | null {
  const twin = state.twinByKey(key);
  if (twin) return `the signing key of twin ${twin.id}`;
  const delegation = state.delegation(key);
  if (delegation) return `a key delegated by twin ${delegation.twin}`;
  return null;
}

export function effect(changes: Change[], created: Effect['created'] = {}): Effect {
  return { changes, created };
}
