/*
 * A container image made from Debian's busybox-static: a rootfs holding /bin/busybox and a
 * link per applet, packed with the system tar and compressed, as an image tarball on a web
 * server would be. The demo VDC of `vdc up` runs it, and so do the container tests.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

const APPLETS = [
  'sh',
  'cat',
  'echo',
  'printf',
  'mkdir',
  'head',
  'tr',
  'sleep',
  'ls',
  'id',
  'grep',
  'httpd',
  'env',
  'true',
];

export interface BuiltImage {
  /** the tarball */
  path: string;
  sha256: string;
  bytes: number;
}

/** The SHA-256 (hex) of a file, as the node checks an image's digest. */
export function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * Builds the busybox image tarball `name` in `dir` from /bin/busybox.
 * @throws Error when /bin/busybox or tar is missing (the caller checks prerequisites first)
 */
export function buildBusyboxImage(dir: string, name = 'busybox.tar.gz'): BuiltImage {
  const root = join(dir, `${name}.rootfs`);
  rmSync(root, { recursive: true, force: true }); // a build cut short leaves a half rootfs
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'etc'));
  copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
  for (const applet of APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
  const path = join(dir, name);
  execFileSync('tar', ['-czf', path, '--numeric-owner', '--owner=0', '--group=0', '-C', root, '.']);
  const bytes = readFileSync(path);
  return { path, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
}
