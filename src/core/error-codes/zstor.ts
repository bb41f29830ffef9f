import type { ErrorKind } from '../error-codes.ts';

/** Codes of src/zstor: erasure coding, the encryption pipeline, metadata, repair and S3. */
export const ZSTOR_CODES = {} as const satisfies Record<string, ErrorKind>;
