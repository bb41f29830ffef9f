import type { ErrorKind } from '../error-codes.ts';

/** Codes of src/grid: the local grid of `vdc up` and the namespace harness (docs/grid.md). */
export const GRID_CODES = {
  GRID_START_FAILED: 'unavailable',
  GRID_NOT_ROOT: 'forbidden',
  GRID_NETNS_COMMAND_FAILED: 'internal',
  GRID_NO_FREE_SUBNET: 'unavailable',
  GRID_NAME_INVALID: 'invalid',
  GRID_TORN_DOWN: 'conflict',
  GRID_TEARDOWN_INCOMPLETE: 'internal',
  GRID_RUN_NOT_FOUND: 'not-found',
  GRID_PREREQUISITE_MISSING: 'unavailable',
  GRID_DEMO_FAILED: 'unavailable',
  GRID_BUSY: 'conflict',
  GRID_FOLDER_UNSAFE: 'forbidden',
  GRID_STATE_INVALID: 'invalid',
  GRID_SUBNET_MOVED: 'conflict',
} as const satisfies Record<string, ErrorKind>;
