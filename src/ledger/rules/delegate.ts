import type { Delegation } from '../projection-state.ts';
import { readEnum, readHex, readList, readObject, readTime, readUint } from '../tx-fields.ts';
import { DELEGABLE_TYPES, type DelegableType, MAX_TERM_MS } from '../tx-format.ts';
import { bodyObject, defineTx, effect, keyHolder, refuse } from './rule.ts';

/*
 * delegate.grant lets another key act for the twin, for the named types only, at most
 * `counts[type]` times each, until `expiresAt`. Only delegable types can be named, which
 * leaves out twin.update and delegate.* (a delegate can never widen or keep its own power)
 * and the node-key types. Granting again to the same key replaces the grant and resets its
 * use counts; delegate.revoke removes it. Both need the twin's own key (auth `owner`).
 */

export const MAX_DELEGATION_COUNT = 2 ** 32;

export interface DelegateGrantBody {
  key: string;
  types: DelegableType[];
  counts: Partial<Record<DelegableType, number>>;
  expiresAt: number;
}

export interface DelegateRevokeBody {
  key: string;
}

function readCounts(
  value: unknown,
  types: DelegableType[],
): Partial<Record<DelegableType, number>> {
  if (value === undefined) return {};
  const obj = readObject(value, 'body.counts', [], types, 'TX_BODY_INVALID');
  const out: Partial<Record<DelegableType, number>> = {};
  for (const type of types)
    if (obj[type] !== undefined)
      out[type] = readUint(
        obj[type],
        `body.counts.${type}`,
        MAX_DELEGATION_COUNT,
        'TX_BODY_INVALID',
        1,
      );
  return out;
}

export const delegateGrant = defineTx<DelegateGrantBody>({
  auth: 'owner',
  parseBody(value) {
    const b = bodyObject(value, ['key', 'types', 'expiresAt'], ['counts']);
    const types = readList(
      b['types'],
      'body.types',
      DELEGABLE_TYPES.length,
      'TX_BODY_INVALID',
      (v, l) => {
        if (v === 'twin.update' || (typeof v === 'string' && v.startsWith('delegate.')))
          refuse(
            'DELEGATION_FORBIDDEN_TYPE',
            `'${l}' is ${v}: a delegate may never issue twin.update or delegate.*; grant only ${DELEGABLE_TYPES.join(', ')}`,
          );
        return readEnum(v, l, DELEGABLE_TYPES, 'TX_BODY_INVALID');
      },
      { min: 1, unique: true },
    );
    return {
      key: readHex(b['key'], 'body.key', 32, 'TX_BODY_INVALID'),
      types,
      counts: readCounts(b['counts'], types),
      expiresAt: readTime(b['expiresAt'], 'body.expiresAt', 'TX_BODY_INVALID'),
    };
  },
  rule(state, { tx, acceptedAt }) {
    const { key, types, counts, expiresAt } = tx.body;
    if (expiresAt <= acceptedAt || expiresAt > acceptedAt + MAX_TERM_MS)
      refuse(
        'DELEGATION_EXPIRY_INVALID',
        `a delegation must expire after it is accepted (${acceptedAt}) and within ${MAX_TERM_MS} ms of it, got ${expiresAt}`,
      );
    const existing = state.delegation(key);
    if (existing?.twin !== tx.twin) {
      const holder = keyHolder(state, key);
      if (holder)
        refuse(
          'DELEGATION_KEY_TAKEN',
          `twin keys are unique: key ${key} is already ${holder}; delegate to a key of its own`,
        );
    }
    const delegation: Delegation = {
      key,
      twin: tx.twin,
      types,
      counts,
      used: {},
      expiresAt,
      grantedAt: acceptedAt,
    };
    return effect([{ table: 'delegations', key, value: delegation }]);
  },
});

export const delegateRevoke = defineTx<DelegateRevokeBody>({
  auth: 'owner',
  parseBody(value) {
    const b = bodyObject(value, ['key']);
    return { key: readHex(b['key'], 'body.key', 32, 'TX_BODY_INVALID') };
  },
  rule(state, { tx }) {
    const existing = state.delegation(tx.body.key);
    if (existing?.twin !== tx.twin)
      refuse(
        'DELEGATION_UNKNOWN',
        `twin ${tx.twin} has no delegation to key ${tx.body.key}: nothing to revoke`,
      );
    return effect([{ table: 'delegations', key: tx.body.key, value: null }]);
  },
});
