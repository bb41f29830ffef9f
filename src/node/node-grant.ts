import { readFileSync } from 'node:fs';
import { assertExactKeys, assertObject, fail } from '../core/assert.ts';
import { parseJson } from '../core/strict-json.ts';
import type { EnrolGrant } from '../ledger/index.ts';

/*
 * The farmer's enrolment grant as `vdc farm enrol` prints it: `{grant, grantSignature}`.
 * Its fields are checked by the ledger's own rules when node.register is submitted (and,
 * before that, by signTransaction's parser), so here only the outer shape is checked.
 */

export interface SignedGrant {
  grant: EnrolGrant;
  grantSignature: string;
}

/** @throws VdcError NODE_GRANT_INVALID */
export function readGrantFile(path: string): SignedGrant {
  let value: unknown;
  try {
    value = parseJson(readFileSync(path));
  } catch (cause) {
    fail(
      'NODE_GRANT_INVALID',
      `${path} is not the JSON 'vdc farm enrol' prints: ${(cause as Error).message}`,
      cause,
    );
  }
  assertObject(value, 'grant file', 'NODE_GRANT_INVALID');
  assertExactKeys(value, 'grant file', ['grant', 'grantSignature'], [], 'NODE_GRANT_INVALID');
  assertObject(value['grant'], 'grant file.grant', 'NODE_GRANT_INVALID');
  return value as unknown as SignedGrant;
}
