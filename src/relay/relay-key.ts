import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/assert.ts';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { fromHex } from '../core/hex.ts';
import { SEED_BYTES } from '../core/key-derivation.ts';
import { Identity } from '../identity/index.ts';

/*
 * The relay's own twin keys (docs/relay.md, federation): a random seed created on first
 * start in the relay's data folder, mode 0600. The relay holds no user secret; this key
 * only lets it log in to peer relays as the twin the operator registered for it.
 */

export const RELAY_KEY_FILE = 'relay-key';

/**
 * Loads the relay's identity from `dir`, creating it on first start.
 * @throws VdcError KEY_INVALID when the file does not hold a seed; FILE_WRITE_FAILED
 */
export function loadRelayIdentity(dir: string): { identity: Identity; created: boolean } {
  const path = join(dir, RELAY_KEY_FILE);
  if (existsSync(path)) {
    const text = readFileSync(path, 'utf8').trim();
    const seed = fromHex(text, path, SEED_BYTES, 'KEY_INVALID');
    return { identity: Identity.fromSeed(seed), created: false };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const seed = randomBytes(SEED_BYTES);
  writeFileAtomic(path, `${seed.toString('hex')}\n`);
  if (!existsSync(path)) fail('FILE_WRITE_FAILED', `could not create ${path}`);
  return { identity: Identity.fromSeed(seed), created: true };
}
