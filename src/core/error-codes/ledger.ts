import type { ErrorKind } from '../error-codes.ts';

/** Codes of src/ledger: transactions, rules, the Merkle log, stores, server and follower. */
export const LEDGER_CODES = {} as const satisfies Record<string, ErrorKind>;
