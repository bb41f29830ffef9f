import { createHash } from 'node:crypto';
import { fail } from '../core/assert.ts';
import { toHex } from '../core/hex.ts';

/** Length of a ledger id in hex characters (SHA-256). */
export const LEDGER_ID_HEX_LENGTH = 64;

/**
 * The id of a ledger: hex SHA-256 of its raw 32-byte Ed25519 public key. Every transaction
 * and enrolment grant names the ledger it is for by this id, so a signature made for one
 * ledger is refused by every other (DESIGN §4: signed payloads name their ledger).
 * @throws VdcError KEY_INVALID when the key is not 32 bytes
 */
export function ledgerId(publicKey: Uint8Array): string {
  if (publicKey.length !== 32)
    fail('KEY_INVALID', `a ledger public key is 32 raw Ed25519 bytes, got ${publicKey.length}`);
  return toHex(createHash('sha256').update(publicKey).digest());
}
