import type { ErrorKind } from '../error-codes.ts';

/** Codes of src/relay: envelopes, the relay server and its client. */
export const RELAY_CODES = {
} as const satisfies Record<string, ErrorKind>;
