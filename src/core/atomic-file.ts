import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fail } from './assert.ts';

/*
 * Replacing a file so that a reader, or a crash at any moment, sees either the old file or
 * the new one whole: write a temporary file beside it (same folder, so the rename is atomic),
 * fsync, rename, fsync the directory (so the rename itself survives a crash). The temporary
 * file is created exclusively with `mode` (0600 by default), so it is never wider, not even
 * for a moment. On failure it is removed and the old file is left as it was.
 *
 * writeFileAtomic does this synchronously; writeFileAtomicAsync does the same steps on
 * libuv's thread pool, for daemons whose event loop must not stall on the fsyncs (tens of
 * milliseconds on a busy disk).
 */

function tempBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

function writeFailed(path: string, cause: unknown): never {
  fail(
    'FILE_WRITE_FAILED',
    `could not write ${path}: ${(cause as Error).message}; check the folder exists and is writable`,
    cause,
  );
}

/**
 * Replaces `path` with `data` atomically (see above), blocking until it is on disk.
 * With `exclusive`, an existing file is never replaced, even one created a moment ago by
 * another process: the new file is linked into place (link fails where rename overwrites).
 * @throws VdcError FILE_EXISTS (exclusive), FILE_WRITE_FAILED
 */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o600,
  opts: { exclusive?: boolean } = {},
): void {
  const tmp = tempBeside(path);
  let fd: number | undefined;
  let created = false;
  try {
    fd = openSync(tmp, 'wx', mode);
    created = true;
    writeFileSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (opts.exclusive) {
      linkSync(tmp, path);
      rmSync(tmp);
    } else renameSync(tmp, path);
    const dirFd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch (cause) {
    if (fd !== undefined) closeSync(fd);
    // Only a temporary file this call created is removed: where it could not be created (no
    // such folder, a file in the way) removing it fails too, and would hide the real error.
    if (created) rmSync(tmp, { force: true });
    if (opts.exclusive && (cause as NodeJS.ErrnoException).code === 'EEXIST')
      fail('FILE_EXISTS', `${path} already exists: it was left as it is`, cause);
    writeFailed(path, cause);
  }
}

/**
 * Replaces `path` with `data` atomically (see above) without blocking the event loop.
 * @throws VdcError FILE_WRITE_FAILED (the promise rejects with it)
 */
export async function writeFileAtomicAsync(
  path: string,
  data: string | Uint8Array,
  mode = 0o600,
): Promise<void> {
  const tmp = tempBeside(path);
  let file: FileHandle | undefined;
  let created = false;
  try {
    file = await open(tmp, 'wx', mode);
    created = true;
    await file.writeFile(data);
    await file.sync();
    await file.close();
    file = undefined;
    await rename(tmp, path);
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (cause) {
    if (file !== undefined) await file.close();
    if (created) await rm(tmp, { force: true });
    writeFailed(path, cause);
  }
}
