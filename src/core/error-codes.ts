import { CORE_CODES } from './error-codes/core.ts';
import { DEPLOY_CODES } from './error-codes/deploy.ts';
import { GATEWAY_CODES } from './error-codes/gateway.ts';
import { GRID_CODES } from './error-codes/grid.ts';
import { IDENTITY_CODES } from './error-codes/identity.ts';
import { IMAGE_CODES } from './error-codes/image.ts';
import { LEDGER_CODES } from './error-codes/ledger.ts';
import { NODE_CODES } from './error-codes/node.ts';
import { RELAY_CODES } from './error-codes/relay.ts';
import { ZDB_CODES } from './error-codes/zdb.ts';
import { ZSTOR_CODES } from './error-codes/zstor.ts';

/**
 * Every error code VDC can raise, with the kind of failure it is. Codes are part of the
 * API: documented in docs/ (docs/errors.md and each program's own doc), asserted by tests, never reused for another meaning.
 * Each area keeps its codes in error-codes/AREA.ts. The kind decides how the code is mapped at the edges (exit code, HTTP status).
 */
export type ErrorKind =
  | 'usage' // the command line itself is wrong
  | 'invalid' // an input (file, body, field) is malformed or out of range
  | 'unauthorized' // a signature, passphrase or credential does not check out
  | 'forbidden' // the caller is known but not allowed
  | 'not-found'
  | 'conflict' // the target exists or is in a state that refuses the change
  | 'expired' // a time window has closed or not yet opened
  | 'unavailable' // a peer or resource cannot be reached now; retrying may help
  | 'internal';

export const ERROR_CODES = {
  ...CORE_CODES,
  ...IDENTITY_CODES,
  ...GRID_CODES,
  ...DEPLOY_CODES,
  ...IMAGE_CODES,
  ...LEDGER_CODES,
  ...NODE_CODES,
  ...RELAY_CODES,
  ...ZDB_CODES,
  ...ZSTOR_CODES,
  ...GATEWAY_CODES,
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Process exit codes per kind; 0 is success. Documented in docs/cli.md. */
export const EXIT_CODES: Record<ErrorKind, number> = {
  internal: 1,
  usage: 2,
  invalid: 3,
  unauthorized: 4,
  forbidden: 5,
  'not-found': 6,
  conflict: 7,
  expired: 8,
  unavailable: 9,
};

/** HTTP statuses per kind, for servers mapping a VdcError at their edge. */
export const HTTP_STATUSES: Record<ErrorKind, number> = {
  internal: 500,
  usage: 400,
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  expired: 401,
  unavailable: 503,
};
