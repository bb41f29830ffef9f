import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/assert.ts';
import { isAlive, type ProcessIdentity, processIdentity } from './run-record.ts';

/*
 * One `vdc up` or `vdc down` at a time per grid folder: two at once would each start a
 * ledger on the same data, or one would tear down what the other is starting. The lock is
 * a file created O_EXCL naming its holder (pid and start time); a lock whose holder is gone
 * (a crash, Ctrl-C) is taken over.
 */

function holderOf(path: string): ProcessIdentity | undefined {
  try {
    const doc = JSON.parse(readFileSync(path, 'utf8')) as Partial<ProcessIdentity>;
    return Number.isSafeInteger(doc.pid) && typeof doc.startTicks === 'string'
      ? { pid: doc.pid!, startTicks: doc.startTicks }
      : undefined;
  } catch {
    return undefined; // gone, or half written by a holder that died: not held
  }
}

/**
 * Takes the grid folder's lock; returns its release.
 * @throws VdcError GRID_BUSY while another live process holds it
 */
export function lockGrid(gridDir: string): () => void {
  const path = join(gridDir, 'grid.lock');
  const me = processIdentity(process.pid)!;
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch {
      const holder = holderOf(path);
      if (holder && isAlive(holder))
        fail(
          'GRID_BUSY',
          `another 'vdc up' or 'vdc down' (pid ${holder.pid}) is working on ${gridDir}: wait until it ends`,
        );
      if (attempt > 0)
        fail('GRID_BUSY', `cannot take ${path}: another 'vdc up' or 'vdc down' is starting`);
      rmSync(path, { force: true }); // its holder is gone
      continue;
    }
    writeSync(fd, JSON.stringify(me));
    closeSync(fd);
    return () => {
      if (holderOf(path)?.pid === me.pid) rmSync(path, { force: true });
    };
  }
}
