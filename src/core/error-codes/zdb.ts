import type { ErrorKind } from '../error-codes.ts';

/** Codes of src/zdb: the 0-db compatible server and its storage engine. */
export const ZDB_CODES = {
  ZDB_USAGE: 'usage',
  ZDB_LISTEN_FAILED: 'unavailable',
  ZDB_PROTOCOL: 'invalid',
  ZDB_REPLY_ERROR: 'conflict',
  ZDB_CONNECTION_CLOSED: 'unavailable',
} as const satisfies Record<string, ErrorKind>;
