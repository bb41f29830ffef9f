import type { ErrorKind } from '../error-codes.ts';

/** Codes of src/zdb: the 0-db compatible server and its storage engine. */
export const ZDB_CODES = {} as const satisfies Record<string, ErrorKind>;
