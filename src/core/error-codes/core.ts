import type { ErrorKind } from '../error-codes.ts';

/** Codes of src/core: encoding, signatures, files, the command line. */
export const CORE_CODES = {
  INTERNAL: 'internal',
  USAGE: 'usage',
  JSON_MALFORMED: 'invalid',
  JSON_DUPLICATE_KEY: 'invalid',
  JSON_LONE_SURROGATE: 'invalid',
  JSON_NON_FINITE: 'invalid',
  JSON_UNSUPPORTED_VALUE: 'invalid',
  JSON_TOO_DEEP: 'invalid',
  INPUT_INVALID: 'invalid',
  INPUT_TOO_LARGE: 'invalid',
  HEX_INVALID: 'invalid',
  KEY_INVALID: 'invalid',
  SIGNATURE_MALFORMED: 'invalid',
  SIGNATURE_INVALID: 'unauthorized',
  TAG_INVALID: 'invalid',
  TAG_RESERVED: 'forbidden',
  FILE_NOT_FOUND: 'not-found',
  FILE_UNREADABLE: 'invalid',
  FILE_WRITE_FAILED: 'internal',
  ENDPOINT_NOT_FOUND: 'not-found',
  METHOD_NOT_ALLOWED: 'usage',
  PEER_UNREACHABLE: 'unavailable',
  PEER_TIMEOUT: 'unavailable',
  PEER_PROTOCOL: 'invalid',
} as const satisfies Record<string, ErrorKind>;
