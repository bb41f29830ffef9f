import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/assert.ts';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { asVdcError } from '../core/errors.ts';
import { fromHex } from '../core/hex.ts';
import { SEED_BYTES } from '../core/key-derivation.ts';
import { Identity } from '../identity/index.ts';

/*
 * The node's own key: a random seed made on first start in the node's data folder, mode
 * 0600, never leaving the machine. Its public signing key is what the farmer enrols; after
 * node.register it is the signing key of the node's twin.
 */

export const NODE_KEY_FILE = 'node-key';

/**
 * Loads the node's identity from `dir`, creating it on first start.
 * @throws VdcError KEY_INVALID when the file does not hold a seed or is readable by others;
 *   FILE_WRITE_FAILED
 */
export function loadNodeIdentity(dir: string): { identity: Identity; created: boolean } {
  const path = join(dir, NODE_KEY_FILE);
  if (existsSync(path)) {
    if ((statSync(path).mode & 0o077) !== 0)
      fail(
        'KEY_INVALID',
        `${path} is readable by other users: chmod 600 it (and consider the key exposed)`,
      );
    const seed = fromHex(readFileSync(path, 'utf8').trim(), path, SEED_BYTES, 'KEY_INVALID');
    return { identity: Identity.fromSeed(seed), created: false };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const seed = randomBytes(SEED_BYTES);
  try {
    writeFileAtomic(path, `${seed.toString('hex')}\n`, 0o600, { exclusive: true });
  } catch (err) {
    // Another agent on this folder created the key first: that one is the node's key.
    if (asVdcError(err).code === 'FILE_EXISTS') return loadNodeIdentity(dir);
    throw err;
  }
  return { identity: Identity.fromSeed(seed), created: true };
}
