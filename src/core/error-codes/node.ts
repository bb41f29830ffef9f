import type { ErrorKind } from '../error-codes.ts';

/** Codes of src/node: the node agent, its message API and deployment engine. */
export const NODE_CODES = {
} as const satisfies Record<string, ErrorKind>;
