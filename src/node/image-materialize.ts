import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  chmod,
  copyFile,
  lchown,
  link,
  lstat,
  mkdir,
  readlink,
  rename,
  rm,
  symlink,
  utimes,
} from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { assertInteger, fail } from '../core/assert.ts';
import { VdcError } from '../core/errors.ts';
import type { ManifestEntry } from './image-manifest.ts';
import { MAX_IMAGE_ID } from './image-unpack.ts';

/*
 * A container's own copy of a cached rootfs, owned by the container's host id range: an
 * entry owned by u:g in the image is owned by uidBase+u : gidBase+g here, which the
 * container's user namespace maps back to u:g inside. The copy is made beside `dest` and
 * renamed into place, so a failure leaves nothing. Hard links stay hard links within the
 * copy; nothing links back into the cache, so a container cannot change the cached image.
 */

export interface IdBase {
  uidBase: number;
  gidBase: number;
}

/** The highest base that still leaves room for 65536 ids below 2^32 - 1 (the invalid id). */
export const MAX_ID_BASE = 2 ** 32 - 2 - MAX_IMAGE_ID;

function corrupt(path: string, why: string): never {
  return fail('IMAGE_CACHE_CORRUPT', `${path} ${why}: remove the image and fetch it again`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false; // ENOENT, or unreachable: either way nothing is there for us
  }
}

/**
 * Copies the unpacked `rootfs` described by `manifest` to the new folder `dest`.
 * @throws VdcError INPUT_INVALID (a base out of range), IMAGE_DEST_EXISTS,
 *   IMAGE_CACHE_CORRUPT (the cache differs from its manifest), FILE_WRITE_FAILED
 */
export async function materializeRootfs(
  rootfs: string,
  manifest: readonly ManifestEntry[],
  dest: string,
  ids: IdBase,
): Promise<void> {
  assertInteger(ids.uidBase, 'uidBase', 0, MAX_ID_BASE);
  assertInteger(ids.gidBase, 'gidBase', 0, MAX_ID_BASE);
  if (await exists(dest))
    fail('IMAGE_DEST_EXISTS', `${dest} exists: materialize into a new folder`);
  const temp = join(dirname(dest), `.${basename(dest)}.copy-${randomBytes(6).toString('hex')}`);
  await mkdir(temp, { mode: 0o700 });
  try {
    const copied = new Map<number, string>();
    const dirs: { path: string; mode: number; atime: Date; mtime: Date }[] = [];
    for (const e of manifest) {
      const src = e.path === '.' ? rootfs : join(rootfs, e.path);
      const dst = e.path === '.' ? temp : join(temp, e.path);
      const st = await lstat(src).catch(() => corrupt(src, 'is missing'));
      if (e.type === 'directory') {
        if (!st.isDirectory()) corrupt(src, 'is not a directory');
        if (e.path !== '.') await mkdir(dst, { mode: 0o700 });
        dirs.push({ path: dst, mode: e.mode, atime: st.atime, mtime: st.mtime });
      } else if (e.type === 'symlink') {
        if (!st.isSymbolicLink()) corrupt(src, 'is not a symlink');
        await symlink(await readlink(src), dst);
      } else {
        if (!st.isFile()) corrupt(src, 'is not a regular file');
        const first = st.nlink > 1 ? copied.get(st.ino) : undefined;
        if (first !== undefined) {
          await link(first, dst);
          continue; // one inode: owner and mode were set with its first name
        }
        // EXCL: never write through anything already at dst; FICLONE: share blocks where
        // the filesystem can, copy where it cannot.
        await copyFile(src, dst, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
        if (st.nlink > 1) copied.set(st.ino, dst);
        await utimes(dst, st.atime, st.mtime);
      }
      await lchown(dst, ids.uidBase + e.uid, ids.gidBase + e.gid);
      // chown clears setgid, so modes are set after it; directories' at the end.
      if (e.type === 'file') await chmod(dst, e.mode);
    }
    for (const d of dirs.reverse()) {
      await chmod(d.path, d.mode);
      await utimes(d.path, d.atime, d.mtime);
    }
    if (await exists(dest)) fail('IMAGE_DEST_EXISTS', `${dest} appeared while copying`);
    await rename(temp, dest);
  } catch (cause) {
    await rm(temp, { recursive: true, force: true });
    if (cause instanceof VdcError) throw cause;
    fail(
      'FILE_WRITE_FAILED',
      `could not copy the image to ${dest}: ${(cause as Error).message}`,
      cause,
    );
  }
}
