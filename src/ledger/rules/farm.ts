import type { Farm } from '../projection-state.ts';
import { readString } from '../tx-fields.ts';
import { bodyObject, defineTx, effect } from './rule.ts';

/*
 * farm.create: the signing twin becomes the farm's owner, the only one whose grants enrol
 * nodes in it and who registers its gateways. Names are labels for people, not unique.
 */

export const FARM_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;

export interface FarmCreateBody {
  name: string;
}

export const farmCreate = defineTx<FarmCreateBody>({
  auth: 'owner-or-delegate',
  parseBody(value) {
    const b = bodyObject(value, ['name']);
    return {
      name: readString(
        b['name'],
        'body.name',
        { min: 1, max: 64, pattern: FARM_NAME },
        'TX_BODY_INVALID',
      ),
    };
  },
  rule(state, { tx, acceptedAt }) {
    const id = state.nextId('farms');
    const farm: Farm = { id, owner: tx.twin, name: tx.body.name, createdAt: acceptedAt };
    return effect([{ table: 'farms', key: id, value: farm }], { farms: id });
  },
});
