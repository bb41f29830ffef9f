import { chmodSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fail } from '../core/assert.ts';

/*
 * A container's root in a user namespace is an unprivileged host uid: crun, once inside
 * that namespace, must still walk the path down to the bundle's rootfs. So every folder
 * on that path must be searchable by others (the x bit, without r: nothing can be listed).
 * The node's own folders are set so here; a folder above them that is not is the
 * operator's to open, and the runtime says which rather than changing it.
 */

const SEARCH = 0o001;

/**
 * Makes `dir` and its parent (the node's data folder) traverse-only for others and checks
 * every folder above.
 * @throws VdcError CONTAINER_RUNTIME_UNAVAILABLE naming the folder to open
 */
export function openToContainers(dir: string): void {
  const full = resolve(dir);
  for (const own of [full, dirname(full)]) {
    const mode = statSync(own).mode & 0o777;
    // traverse for group and others, never read: the folder's entries stay private
    chmodSync(own, (mode & ~0o066) | 0o011);
  }
  for (let d = dirname(dirname(full)); ; d = dirname(d)) {
    if ((statSync(d).mode & SEARCH) === 0)
      fail(
        'CONTAINER_RUNTIME_UNAVAILABLE',
        `'${d}' is not searchable by other users, so containers (in user namespaces) cannot reach their rootfs under ${full}: chmod o+x '${d}' or keep the node's --data elsewhere`,
      );
    if (d === dirname(d)) return;
  }
}
