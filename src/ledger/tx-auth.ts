import { fail } from '../core/assert.ts';
import type { Change, ProjectionReader } from './projection-state.ts';
import type { Auth } from './rules/rule.ts';
import { isDelegableType, MAX_CLOCK_SKEW_MS, type Transaction } from './tx-format.ts';
import { assertTxSignature } from './tx-signature.ts';

/*
 * The checks every transaction passes before its type's rule, in this order: it is for this
 * ledger, its signature holds under vdc/tx/v1, its claimed time is near `acceptedAt`, its
 * nonce is above the signer's last, and its signer may act for the twin (the twin's own key,
 * or a delegate within its grant). Each failure has its own code (docs/ledger.md).
 */

/**
 * @throws VdcError TX_WRONG_LEDGER, TX_WRONG_TAG, TX_SIGNATURE_INVALID, TX_TIME_SKEW, TX_NONCE_REPLAYED
 * @returns the nonce write
 */
export function checkEnvelope(
  state: ProjectionReader,
  tx: Transaction<unknown>,
  raw: Transaction,
  sig: string,
  acceptedAt: number,
): Change {
  if (tx.ledger !== state.ledger)
    fail(
      'TX_WRONG_LEDGER',
      `the transaction is for ledger ${tx.ledger}, not this ledger ${state.ledger}: sign it for the ledger you submit to`,
    );
  assertTxSignature(raw, sig);
  if (tx.time !== undefined && Math.abs(acceptedAt - tx.time) > MAX_CLOCK_SKEW_MS)
    fail(
      'TX_TIME_SKEW',
      `the transaction claims time ${tx.time} but was accepted at ${acceptedAt}, more than ${MAX_CLOCK_SKEW_MS} ms apart: check the signer's clock`,
    );
  const last = state.nonce(tx.signer);
  if (last !== undefined && tx.nonce <= last)
    fail(
      'TX_NONCE_REPLAYED',
      `nonces per signing key strictly increase: key ${tx.signer} last used nonce ${last}, this transaction has ${tx.nonce}; use ${last + 1} or more`,
    );
  return { table: 'nonces', key: tx.signer, value: tx.nonce };
}

/**
 * Whether the signer may act for `tx.twin` with this type.
 * @throws VdcError TX_TWIN_UNKNOWN, TX_SIGNER_NOT_AUTHORISED, DELEGATION_FORBIDDEN_TYPE,
 *   DELEGATION_EXPIRED, DELEGATION_TYPE_NOT_GRANTED, DELEGATION_COUNT_EXHAUSTED
 * @returns the delegation's use-count write, when a delegate signed
 */
export function authorise(
  state: ProjectionReader,
  tx: Transaction<unknown>,
  auth: Auth,
  acceptedAt: number,
): Change[] {
  if (auth === 'self') return [];
  const twin = state.twin(tx.twin);
  if (!twin) fail('TX_TWIN_UNKNOWN', `twin ${tx.twin} does not exist on this ledger`);
  if (twin.signingKey === tx.signer) return [];
  const d = state.delegation(tx.signer);
  if (!d || d.twin !== tx.twin)
    fail(
      'TX_SIGNER_NOT_AUTHORISED',
      `key ${tx.signer} is neither twin ${tx.twin}'s signing key nor a key it delegated: sign with the twin's key`,
    );
  if (auth === 'owner' || !isDelegableType(tx.type))
    fail(
      'DELEGATION_FORBIDDEN_TYPE',
      `a delegate may not issue ${tx.type}: it needs twin ${tx.twin}'s own key (delegates never issue twin.update, delegate.* or node transactions)`,
    );
  if (acceptedAt >= d.expiresAt)
    fail(
      'DELEGATION_EXPIRED',
      `the delegation of key ${tx.signer} by twin ${tx.twin} expired at ${new Date(d.expiresAt).toISOString()}: ask the twin to grant it again`,
    );
  if (!d.types.includes(tx.type))
    fail(
      'DELEGATION_TYPE_NOT_GRANTED',
      `the delegation of key ${tx.signer} covers ${d.types.join(', ')}, not ${tx.type}`,
    );
  const used = d.used[tx.type] ?? 0;
  const count = d.counts[tx.type];
  if (count !== undefined && used >= count)
    fail(
      'DELEGATION_COUNT_EXHAUSTED',
      `the delegation of key ${tx.signer} allows ${tx.type} ${count} times and all are used: ask the twin for a new grant`,
    );
  return [
    { table: 'delegations', key: d.key, value: { ...d, used: { ...d.used, [tx.type]: used + 1 } } },
  ];
}
