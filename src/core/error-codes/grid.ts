import type { ErrorKind } from '../error-codes.ts';

/** Codes of src/grid: the local grid of `vdc up` and the test harness. */
export const GRID_CODES = {
  GRID_START_FAILED: 'unavailable',
} as const satisfies Record<string, ErrorKind>;
