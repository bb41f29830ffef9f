import { existsSync, lstatSync, readdirSync, realpathSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fail } from '../core/assert.ts';

/*
 * What root may trust in a grid folder (docs/grid.md, "Root and the grid folder"). Root's
 * `up` and `down` act on what the folder says: grid.json names the pids they signal and the
 * folders they delete, the logs are files root opens, the farmer's keystore unlocks the
 * gateway. A folder another user can write (or could, before it was handed to root) would
 * let that user steer root. So as root, the grid folder, every folder above it, and
 * everything in it must be root's and writable by root only; a world-writable folder above
 * it is fine when it is sticky (/tmp), since then no one but root renames root's entries.
 */

function refuse(path: string, why: string): never {
  fail(
    'GRID_FOLDER_UNSAFE',
    `${path} ${why}: as root, the grid folder, every folder above it and everything in it must be root's and writable by root only, since root acts on what it holds. Run 'vdc down --purge' as its owner, then 'sudo vdc up' with a VDC_HOME of root's (plain 'sudo vdc up' uses /root/.vdc)`,
  );
}

/** Every folder from / down to `path`, `path` last. */
function prefixes(path: string): string[] {
  const out: string[] = [];
  for (let p = path; ; p = dirname(p)) {
    out.unshift(p);
    if (dirname(p) === p) return out;
  }
}

function checkEntry(path: string, st: Stats, ancestor: boolean): void {
  if (st.uid !== 0) refuse(path, `is owned by uid ${st.uid}, not root`);
  if (st.isSymbolicLink()) return; // root's own link; what it points at is checked as well
  const sticky = (st.mode & 0o1000) !== 0;
  if ((st.mode & 0o022) !== 0 && !(ancestor && st.isDirectory() && sticky))
    refuse(path, `is writable by its group or others (mode ${(st.mode & 0o7777).toString(8)})`);
}

function checkTree(path: string): void {
  for (const name of readdirSync(path)) {
    const entry = join(path, name);
    const st = lstatSync(entry);
    checkEntry(entry, st, false);
    if (st.isDirectory()) checkTree(entry);
  }
}

/**
 * As root (`uid` 0), refuses a grid folder anyone but root could have written; other
 * users' grids are their own business and are not checked. A folder not made yet is
 * judged by the folders above it.
 * @throws VdcError GRID_FOLDER_UNSAFE naming the first path that is not root's alone
 */
export function checkGridFolder(gridDir: string, uid = process.geteuid?.()): void {
  if (uid !== 0) return;
  const wanted = resolve(gridDir);
  // Not made yet: what is above it must be root's already.
  let lexical = wanted;
  while (!existsSync(lexical)) lexical = dirname(lexical);
  const real = realpathSync(lexical);
  const made = lexical === wanted;
  const seen = new Set<string>();
  for (const chain of [prefixes(lexical), prefixes(real)])
    for (const p of chain) {
      if (seen.has(p)) continue;
      seen.add(p);
      checkEntry(p, lstatSync(p), !made || (p !== lexical && p !== real));
    }
  if (made) checkTree(real);
}
