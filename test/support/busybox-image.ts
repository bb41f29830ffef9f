/*
 * A container image built by the tests from Debian's busybox-static: a rootfs holding
 * /bin/busybox and a link per applet the tests use, packed with the system tar and
 * compressed, as an image tarball on a web server would be.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

const APPLETS = [
  'sh',
  'cat',
  'echo',
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

/** Builds the busybox image tarball in `dir`. */
export function buildBusyboxImage(dir: string, name = 'busybox.tar.gz'): BuiltImage {
  const root = join(dir, `${name}.rootfs`);
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'etc'));
  copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
  for (const applet of APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
  const path = join(dir, name);
  execFileSync('tar', ['-czf', path, '--numeric-owner', '--owner=0', '--group=0', '-C', root, '.']);
  const bytes = readFileSync(path);
  return { path, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
}
