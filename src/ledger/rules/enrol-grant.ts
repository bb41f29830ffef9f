import { verify } from '../../core/signing.ts';
import { SIGNING_TAGS } from '../../core/signing-tags.ts';
import { readHex, readObject, readTime, readUint } from '../tx-fields.ts';
import { MAX_ID } from '../tx-format.ts';

/*
 * The farmer's enrolment grant (DESIGN §5): `{ledger, farm, nodeKey, expires}` signed under
 * vdc/enrol/v1 by the farm owner's twin key. It names the ledger and the farm so it serves
 * nowhere else, and the node key so only that node can use it. `vdc farm enrol` prints it.
 */

export interface EnrolGrant {
  ledger: string;
  farm: number;
  nodeKey: string;
  expires: number;
}

export function readEnrolGrant(value: unknown, label: string): EnrolGrant {
  const g = readObject(
    value,
    label,
    ['ledger', 'farm', 'nodeKey', 'expires'],
    [],
    'TX_BODY_INVALID',
  );
  return {
    ledger: readHex(g['ledger'], `${label}.ledger`, 32, 'TX_BODY_INVALID'),
    farm: readUint(g['farm'], `${label}.farm`, MAX_ID, 'TX_BODY_INVALID', 1),
    nodeKey: readHex(g['nodeKey'], `${label}.nodeKey`, 32, 'TX_BODY_INVALID'),
    expires: readTime(g['expires'], `${label}.expires`, 'TX_BODY_INVALID'),
  };
}

/** Whether `signature` (hex) is the farm owner's signature of the grant; malformed keys count as no. */
export function enrolGrantVerifies(
  grant: EnrolGrant,
  signature: string,
  ownerKey: string,
): boolean {
  try {
    return verify(
      SIGNING_TAGS.enrol,
      grant,
      Buffer.from(signature, 'hex'),
      Buffer.from(ownerKey, 'hex'),
    );
  } catch {
    // A malformed key cannot have made a valid signature; the caller reports the refusal.
    return false;
  }
}
