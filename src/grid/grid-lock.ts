import { createHash, randomBytes } from 'node:crypto';
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/assert.ts';
import { isAlive, type ProcessIdentity, processIdentity } from './run-record.ts';

/*
 * One `vdc up` or `vdc down` at a time per grid folder: two at once would each start a
 * ledger on the same data, or one would tear down what the other is starting.
 *
 * The lock is a file naming its holder (pid, start time and a random nonce). It never
 * exists half written: it is written under a name of its own, then linked into place
 * (link(2) fails when the name exists, like O_EXCL). Only its holder removes a live lock.
 *
 * A lock whose holder is gone (a crash, Ctrl-C) is taken over. Several processes may find
 * the same dead lock at once, and a plain "remove, then create" would let one remove the
 * fresh lock another just made. So its removal is claimed first: a claim file per dead
 * lock (named by the hash of its bytes, linked in the same way), of which exactly one
 * taker gets each. The claimant removes the lock only if it still holds those very bytes
 * (no one else removes a dead lock while the claim is live). A claimant that died leaves
 * its claim; the next taker claims under the next number, so no claim is ever removed
 * while another could be acting on it: claims are cleared only after the lock is gone,
 * and whoever claims then finds other bytes in place and leaves them.
 */

const MAX_CLAIMS = 16;

function readBytes(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined; // gone
  }
}

function holderIn(bytes: Buffer | undefined): ProcessIdentity | undefined {
  if (bytes === undefined) return undefined;
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as Partial<ProcessIdentity>;
    return Number.isSafeInteger(doc.pid) && typeof doc.startTicks === 'string'
      ? { pid: doc.pid!, startTicks: doc.startTicks }
      : undefined;
  } catch {
    return undefined; // not a lock this module wrote (an older `vdc` crashed writing it)
  }
}

function busy(gridDir: string, holder: ProcessIdentity | undefined): never {
  fail(
    'GRID_BUSY',
    holder
      ? `another 'vdc up' or 'vdc down' (pid ${holder.pid}) is working on ${gridDir}: wait until it ends`
      : `another 'vdc up' or 'vdc down' is taking ${join(gridDir, 'grid.lock')}: wait until it ends`,
  );
}

/** Links a file already holding `bytes` into place at `path`; false when the name exists. */
function linkFilled(path: string, bytes: string): boolean {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}`;
  writeFileSync(temp, bytes, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(temp, { force: true });
  }
}

/**
 * Removes the dead lock holding `dead` unless another live taker has claimed it; true when
 * the lock at `path` no longer holds those bytes (taking it may be tried again).
 */
function takeOver(path: string, dead: Buffer, me: string): boolean {
  const key = createHash('sha256').update(dead).digest('hex').slice(0, 16);
  const claimOf = (k: number) => `${path}.takeover-${key}-${k}`;
  for (let k = 1; k <= MAX_CLAIMS; k++) {
    if (linkFilled(claimOf(k), me)) {
      try {
        const now = readBytes(path);
        if (now?.equals(dead)) rmSync(path);
      } finally {
        for (let j = 1; j <= k; j++) rmSync(claimOf(j), { force: true });
      }
      return true;
    }
    const claimant = holderIn(readBytes(claimOf(k)));
    if (claimant && isAlive(claimant)) return false;
    // Its claimant died (or it was just cleared after the lock went): the next number.
  }
  return false;
}

/**
 * Takes the grid folder's lock; returns its release.
 * @throws VdcError GRID_BUSY while another live process holds it (or is taking it over)
 */
export function lockGrid(gridDir: string): () => void {
  const path = join(gridDir, 'grid.lock');
  const me = JSON.stringify({
    ...processIdentity(process.pid)!,
    nonce: randomBytes(12).toString('hex'),
  });
  for (let attempt = 0; attempt < 5; attempt++) {
    if (linkFilled(path, me))
      return () => {
        // Only its holder removes a live lock, so the bytes are still ours unless a
        // bug elsewhere replaced them: then the lock is left alone.
        if (readBytes(path)?.toString('utf8') === me) rmSync(path, { force: true });
      };
    const bytes = readBytes(path);
    if (bytes === undefined) continue; // released meanwhile
    const holder = holderIn(bytes);
    if (holder && isAlive(holder)) busy(gridDir, holder);
    // Dead, or unreadable: every lock is linked in already filled, so an unreadable one is
    // no live holder's half-written file.
    if (!takeOver(path, bytes, me)) busy(gridDir, undefined);
  }
  busy(gridDir, holderIn(readBytes(path)));
}
