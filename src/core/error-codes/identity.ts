import type { ErrorKind } from '../error-codes.ts';

/** Codes of src/identity: mnemonics, keystore, P8 logins. */
export const IDENTITY_CODES = {
  MNEMONIC_LENGTH: 'invalid',
  MNEMONIC_WORD_UNKNOWN: 'invalid',
  MNEMONIC_CHECKSUM: 'invalid',
  PASSPHRASE_REQUIRED: 'usage',
  PASSPHRASE_WEAK: 'invalid',
  PASSPHRASE_MISMATCH: 'invalid',
  PASSPHRASE_WRONG: 'unauthorized',
  KEYSTORE_NOT_FOUND: 'not-found',
  KEYSTORE_EXISTS: 'conflict',
  KEYSTORE_CORRUPT: 'invalid',
  KEYSTORE_UNSUPPORTED: 'invalid',
  LOGIN_MALFORMED: 'invalid',
  LOGIN_AUDIENCE_MISMATCH: 'forbidden',
  LOGIN_EXPIRED: 'expired',
  LOGIN_NOT_YET_VALID: 'expired',
  LOGIN_LIFETIME_TOO_LONG: 'invalid',
  LOGIN_NONCE_UNKNOWN: 'unauthorized',
  LOGIN_NONCE_REPLAYED: 'unauthorized',
  LOGIN_TWIN_UNKNOWN: 'unauthorized',
  LOGIN_SIGNATURE_INVALID: 'unauthorized',
} as const satisfies Record<string, ErrorKind>;
