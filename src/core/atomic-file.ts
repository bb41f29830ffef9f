import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fail } from './assert.ts';

/**
 * Replaces `path` with `data` so that a reader, or a crash at any moment, sees either the
 * old file or the new one whole: write a temporary file beside it, fsync, rename, fsync the
 * directory. The file is created with `mode` (0600 by default) from the start, never wider.
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
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', mode);
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (opts.exclusive) {
      linkSync(tmp, path);
      rmSync(tmp);
    } else renameSync(tmp, path);
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch (cause) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    if (opts.exclusive && (cause as NodeJS.ErrnoException).code === 'EEXIST')
      fail('FILE_EXISTS', `${path} already exists: it was left as it is`, cause);
    fail(
      'FILE_WRITE_FAILED',
      `could not write ${path}: ${(cause as Error).message}; check the folder exists and is writable`,
      cause,
    );
  }
}
