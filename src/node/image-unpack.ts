import { randomBytes } from 'node:crypto';
import {
  chmod,
  constants,
  type FileHandle,
  link,
  lstat,
  mkdir,
  open,
  rename,
  rm,
  symlink,
  unlink,
  utimes,
} from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fail } from '../core/assert.ts';
import { VdcError } from '../core/errors.ts';
import type { ManifestEntry } from './image-manifest.ts';
import {
  archivePath,
  checkSymlinkTarget,
  checkTreeSymlinks,
  joinParts,
  type TreeNode,
} from './image-path.ts';
import { readTar, type TarEntry, type TarLimits } from './image-tar.ts';

/*
 * Unpacks an image tarball into a new folder, or refuses the whole image and leaves
 * nothing: entries go into a private temporary folder beside the destination, renamed
 * into place only when every entry and every symlink passed. See docs/node-images.md for
 * each refusal and the attack it stops.
 *
 * Nothing here ever follows a symlink of the image. Every folder an entry is created in
 * is one this code made itself (the in-memory tree says so, and the temporary folder is
 * private, so nobody else writes there); the last component is created with calls that
 * do not follow links (mkdir, symlink, link, open with O_EXCL|O_NOFOLLOW).
 */

/** Owner ids beyond this do not fit the 65536-id range each container gets. */
export const MAX_IMAGE_ID = 65535;

interface Node extends TreeNode {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

export interface UnpackResult {
  /** every entry of the unpacked tree, parents before children */
  manifest: ManifestEntry[];
  /** bytes of file data written */
  bytes: number;
}

class Unpacker {
  readonly root: string;
  readonly tree = new Map<string, Node>();
  bytes = 0;

  constructor(root: string) {
    this.root = root;
    this.tree.set('', { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
  }

  abs(parts: readonly string[]): string {
    return join(this.root, ...parts);
  }

  /** Makes the missing parents of `parts`; refuses one that is a symlink or a file. */
  async parents(parts: readonly string[], shown: string): Promise<void> {
    for (let i = 1; i < parts.length; i++) {
      const key = joinParts(parts.slice(0, i));
      const node = this.tree.get(key);
      if (node === undefined) {
        await mkdir(this.abs(parts.slice(0, i)), { mode: 0o700 });
        this.tree.set(key, { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
      } else if (node.type === 'symlink') {
        fail(
          'IMAGE_PATH_THROUGH_SYMLINK',
          `entry ${shown} lies below the symlink ${JSON.stringify(key)}: ` +
            `an image may not write through its own links`,
        );
      } else if (node.type !== 'directory') {
        fail('IMAGE_ENTRY_CONFLICT', `entry ${shown} lies below the file ${JSON.stringify(key)}`);
      }
    }
  }

  /** Clears the place of a non-directory entry: a directory there is refused. */
  async clear(parts: readonly string[], shown: string): Promise<void> {
    const key = joinParts(parts);
    const old = this.tree.get(key);
    if (old === undefined) return;
    if (old.type === 'directory')
      fail('IMAGE_ENTRY_CONFLICT', `entry ${shown} would replace the directory of that name`);
    // Unlink, never truncate: a hard link to the old file keeps the old content.
    await unlink(this.abs(parts));
    this.tree.delete(key);
  }

  async place(e: TarEntry, body: AsyncIterable<Buffer>): Promise<void> {
    const shown = JSON.stringify(e.path);
    if (e.type === 'char-device' || e.type === 'block-device')
      fail('IMAGE_DEVICE_REFUSED', `entry ${shown} is a device node: images may hold none`);
    if (e.type === 'fifo')
      fail('IMAGE_FIFO_REFUSED', `entry ${shown} is a FIFO: images may hold none`);
    if (e.mode & 0o4000 || (e.mode & 0o2000 && e.type !== 'directory'))
      fail(
        'IMAGE_SETUID_REFUSED',
        `entry ${shown} has the setuid or setgid bit (mode ${e.mode.toString(8)}): ` +
          `rebuild the image without it`,
      );
    if (e.uid > MAX_IMAGE_ID || e.gid > MAX_IMAGE_ID)
      fail(
        'IMAGE_OWNER_OUT_OF_RANGE',
        `entry ${shown} is owned by ${e.uid}:${e.gid}; image owners must be below 65536`,
      );
    const parts = archivePath(e.path, 'entry');
    const key = joinParts(parts);
    if (parts.length === 0 && e.type !== 'directory')
      fail('IMAGE_ENTRY_CONFLICT', `entry ${shown} would replace the image root`);
    await this.parents(parts, shown);
    const node = { uid: e.uid, gid: e.gid, mtime: e.mtime };
    switch (e.type) {
      case 'directory': {
        const old = this.tree.get(key);
        if (old !== undefined && old.type !== 'directory')
          fail('IMAGE_ENTRY_CONFLICT', `directory ${shown} would replace a ${old.type}`);
        if (old === undefined) await mkdir(this.abs(parts), { mode: 0o700 });
        // Setgid on a directory only makes new files inherit its group: kept, as is sticky.
        this.tree.set(key, { ...node, type: 'directory', mode: e.mode & 0o3777 });
        return;
      }
      case 'file':
        await this.clear(parts, shown);
        await this.write(parts, e, body);
        this.tree.set(key, { ...node, type: 'file', mode: e.mode & 0o777 });
        return;
      case 'symlink':
        checkSymlinkTarget(parts, e.linkTarget);
        await this.clear(parts, shown);
        await symlink(e.linkTarget, this.abs(parts));
        this.tree.set(key, { ...node, type: 'symlink', mode: 0o777, target: e.linkTarget });
        return;
      case 'hardlink':
        return this.hardlink(parts, e);
    }
  }

  async hardlink(parts: string[], e: TarEntry): Promise<void> {
    const shown = JSON.stringify(e.path);
    const targetParts = archivePath(
      e.linkTarget,
      `hard link ${shown} to`,
      'IMAGE_HARDLINK_ESCAPES',
      'IMAGE_HARDLINK_ESCAPES',
    );
    const targetKey = joinParts(targetParts);
    const target = this.tree.get(targetKey);
    // Only earlier regular files: a link to a later entry, a folder or a symlink (which
    // link(2) would not follow, so it would become a second name for the link) is refused.
    if (target?.type !== 'file' || targetKey === joinParts(parts))
      fail(
        'IMAGE_HARDLINK_TARGET_MISSING',
        `hard link ${shown} names ${JSON.stringify(e.linkTarget)}, which is not an earlier ` +
          `regular file of the image`,
      );
    await this.clear(parts, shown);
    await link(this.abs(targetParts), this.abs(parts));
    // One inode, one owner and mode: the target's.
    this.tree.set(joinParts(parts), { ...target });
  }

  async write(parts: string[], e: TarEntry, body: AsyncIterable<Buffer>): Promise<void> {
    const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
    let fh: FileHandle | undefined = await open(
      this.abs(parts),
      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
      0o600,
    );
    try {
      for await (const piece of body) {
        let off = 0;
        while (off < piece.length) off += (await fh.write(piece, off)).bytesWritten;
        this.bytes += piece.length;
      }
      await fh.chmod(e.mode & 0o777);
      await fh.utimes(e.mtime, e.mtime);
      await fh.close();
      fh = undefined;
    } finally {
      await fh?.close();
    }
  }

  /** Directory modes and times last, deepest first, so a read-only folder is filled first. */
  async finish(): Promise<void> {
    const dirs = [...this.tree].filter(([, n]) => n.type === 'directory');
    dirs.sort(([a], [b]) => b.split('/').length - a.split('/').length);
    for (const [key, n] of dirs) {
      const path = key === '' ? this.root : join(this.root, key);
      await chmod(path, n.mode);
      if (n.mtime > 0) await utimes(path, n.mtime, n.mtime);
    }
  }

  manifest(): ManifestEntry[] {
    return [...this.tree].map(([key, n]) => ({
      path: key === '' ? '.' : key,
      type: n.type,
      mode: n.mode,
      uid: n.uid,
      gid: n.gid,
    }));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false; // ENOENT or unreachable: either way nothing of ours is there
  }
}

/**
 * Unpacks a (possibly gzipped) tarball into `dest`, which must not exist; on any refusal
 * nothing is left behind. Returns the manifest of owners for materialization.
 * @throws VdcError IMAGE_DEST_EXISTS, the tar reader's codes, IMAGE_PATH_*, IMAGE_SYMLINK_ESCAPES,
 *   IMAGE_HARDLINK_*, IMAGE_ENTRY_CONFLICT, IMAGE_DEVICE_REFUSED, IMAGE_FIFO_REFUSED,
 *   IMAGE_SETUID_REFUSED, IMAGE_OWNER_OUT_OF_RANGE, FILE_WRITE_FAILED
 */
export async function unpackImage(
  input: AsyncIterable<Uint8Array>,
  dest: string,
  limits: Partial<TarLimits> = {},
): Promise<UnpackResult> {
  if (await exists(dest)) fail('IMAGE_DEST_EXISTS', `${dest} exists: unpack into a new folder`);
  const temp = join(dirname(dest), `.${basename(dest)}.unpack-${randomBytes(6).toString('hex')}`);
  await mkdir(temp, { mode: 0o700 });
  try {
    const u = new Unpacker(temp);
    for await (const { entry, body } of readTar(input, limits)) await u.place(entry, body);
    checkTreeSymlinks(u.tree);
    await u.finish();
    if (await exists(dest))
      fail('IMAGE_DEST_EXISTS', `${dest} appeared while unpacking: unpack into a new folder`);
    await rename(temp, dest);
    return { manifest: u.manifest(), bytes: u.bytes };
  } catch (cause) {
    await rm(temp, { recursive: true, force: true });
    if (cause instanceof VdcError) throw cause;
    return fail(
      'FILE_WRITE_FAILED',
      `could not unpack into ${dest}: ${(cause as Error).message}; check the disk`,
      cause,
    );
  }
}
