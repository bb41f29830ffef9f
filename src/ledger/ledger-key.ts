import { type KeyObject, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { assertExactKeys, assertObject, fail } from '../core/assert.ts';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { fromHex, toHex } from '../core/hex.ts';
import { privateKeyFromSeed, rawPublicKey } from '../core/keys.ts';
import { parseJson } from '../core/strict-json.ts';

/*
 * The ledger's own Ed25519 key, which signs its heads. It is not derived from anyone's
 * mnemonic: the operator keeps the file (mode 0600) and its public key is what clients pin.
 */

export const LEDGER_KEY_FORMAT = 'vdc-ledger-key';

export interface LedgerKey {
  privateKey: KeyObject;
  publicKey: Buffer;
  created: boolean;
}

/**
 * Reads the key file at `path`, creating it with a fresh key when absent.
 * @throws VdcError LEDGER_KEY_INVALID when the file is not a ledger key
 */
export function loadOrCreateLedgerKey(path: string): LedgerKey {
  if (!existsSync(path)) {
    const seed = randomBytes(32);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileAtomic(
      path,
      `${JSON.stringify({ format: LEDGER_KEY_FORMAT, seed: toHex(seed) })}\n`,
      0o600,
    );
    const privateKey = privateKeyFromSeed('ed25519', seed);
    return { privateKey, publicKey: rawPublicKey(privateKey), created: true };
  }
  let seed: Buffer;
  try {
    const doc = parseJson(readFileSync(path));
    assertObject(doc, path);
    assertExactKeys(doc, path, ['format', 'seed']);
    if (doc['format'] !== LEDGER_KEY_FORMAT)
      fail('INPUT_INVALID', `format is not ${LEDGER_KEY_FORMAT}`);
    seed = fromHex(doc['seed'], 'seed', 32);
  } catch (cause) {
    fail(
      'LEDGER_KEY_INVALID',
      `${path} is not a ledger key file (${(cause as Error).message}): restore it, or give another --key path to make a new ledger`,
      cause,
    );
  }
  const privateKey = privateKeyFromSeed('ed25519', seed);
  return { privateKey, publicKey: rawPublicKey(privateKey), created: false };
}
