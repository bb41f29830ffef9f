import assert from 'node:assert/strict';
import {
  chmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import type { ErrorCode } from '../core/error-codes.ts';
import { VdcError } from '../core/errors.ts';
import { unpackImage } from './image-unpack.ts';
import { buildTar, type KitEntry, systemTar } from './tar-test-kit.ts';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'vdc-unpack-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function hasCode(code: ErrorCode) {
  return (err: unknown) => {
    assert.ok(err instanceof VdcError, `expected a VdcError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

async function refused(
  t: { after: (fn: () => void) => void },
  entries: KitEntry[],
  code: ErrorCode,
): Promise<void> {
  const d = tempDir(t);
  await assert.rejects(
    unpackImage(Readable.from([buildTar(entries)]), join(d, 'root')),
    hasCode(code),
  );
  assert.deepEqual(readdirSync(d), [], 'the refused unpack left something behind');
}

describe('image unpack', () => {
  test('unpacks a gzipped GNU tar: files, modes, folders, symlinks, hard links', async (t) => {
    const src = tempDir(t);
    mkdirSync(join(src, 'bin'));
    writeFileSync(join(src, 'bin', 'sh'), '#!busybox', { mode: 0o755 });
    symlinkSync('sh', join(src, 'bin', 'ls'));
    symlinkSync('/bin/sh', join(src, 'abs'));
    writeFileSync(join(src, 'secret'), 's', { mode: 0o600 });
    linkSync(join(src, 'bin', 'sh'), join(src, 'bin', 'busybox'));
    mkdirSync(join(src, 'ro'));
    writeFileSync(join(src, 'ro', 'inside'), 'i');
    chmodSync(join(src, 'ro'), 0o555);
    const d = tempDir(t);
    const dest = join(d, 'root');
    const { manifest, bytes } = await unpackImage(
      Readable.from([systemTar(src, { gzip: true })]),
      dest,
    );
    assert.equal(readFileSync(join(dest, 'bin', 'sh'), 'utf8'), '#!busybox');
    assert.equal(statSync(join(dest, 'bin', 'sh')).mode & 0o7777, 0o755);
    assert.equal(statSync(join(dest, 'secret')).mode & 0o7777, 0o600);
    assert.equal(statSync(join(dest, 'ro')).mode & 0o7777, 0o555);
    assert.equal(readFileSync(join(dest, 'ro', 'inside'), 'utf8'), 'i');
    assert.equal(readlinkSync(join(dest, 'bin', 'ls')), 'sh');
    assert.equal(readlinkSync(join(dest, 'abs')), '/bin/sh');
    assert.equal(statSync(join(dest, 'bin', 'busybox')).ino, statSync(join(dest, 'bin', 'sh')).ino);
    assert.equal(bytes, '#!busybox'.length + 2);
    const paths = manifest.map((e) => e.path);
    assert.equal(paths[0], '.');
    assert.ok(paths.includes('bin/busybox') && paths.includes('ro/inside'));
    assert.ok(manifest.every((e) => e.uid === 0 && e.gid === 0));
    assert.deepEqual(readdirSync(d), ['root']);
  });

  test('records the owners of the tar headers and makes missing parents', async (t) => {
    const d = tempDir(t);
    const tar = buildTar([
      { path: 'home/user/file', data: 'x', uid: 1000, gid: 100 },
      { path: 'home/user/', type: '5', mode: 0o750, uid: 1000, gid: 100 },
      { path: 'var/mail/', type: '5', mode: 0o2775, gid: 8 },
    ]);
    const { manifest } = await unpackImage(Readable.from([tar]), join(d, 'root'));
    const of = (p: string) => manifest.find((e) => e.path === p);
    assert.deepEqual(of('home'), { path: 'home', type: 'directory', mode: 0o755, uid: 0, gid: 0 });
    assert.deepEqual(of('home/user/file'), {
      path: 'home/user/file',
      type: 'file',
      mode: 0o644,
      uid: 1000,
      gid: 100,
    });
    assert.equal(of('home/user')?.mode, 0o750);
    assert.equal(statSync(join(d, 'root', 'var', 'mail')).mode & 0o7777, 0o2775);
  });

  test('a later entry replaces an earlier file; a hard link keeps the old content', async (t) => {
    const d = tempDir(t);
    const tar = buildTar([
      { path: 'a', data: 'old' },
      { path: 'b', type: '1', linkName: 'a' },
      { path: 'a', data: 'new' },
      { path: 'c', type: '2', linkName: 'a' },
      { path: 'c', data: 'file now' },
    ]);
    await unpackImage(Readable.from([tar]), join(d, 'root'));
    assert.equal(readFileSync(join(d, 'root', 'a'), 'utf8'), 'new');
    assert.equal(readFileSync(join(d, 'root', 'b'), 'utf8'), 'old');
    assert.ok(lstatSync(join(d, 'root', 'c')).isFile());
  });

  test('refuses to unpack into a folder that exists', async (t) => {
    const d = tempDir(t);
    mkdirSync(join(d, 'root'));
    await assert.rejects(
      unpackImage(Readable.from([buildTar([{ path: 'a' }])]), join(d, 'root')),
      hasCode('IMAGE_DEST_EXISTS'),
    );
    assert.deepEqual(readdirSync(d), ['root']);
  });

  test('refuses an entry below a symlink of the image', (t) =>
    refused(
      t,
      [
        { path: 'etc', type: '2', linkName: '/tmp' },
        { path: 'etc/passwd', data: 'root::0:0' },
      ],
      'IMAGE_PATH_THROUGH_SYMLINK',
    ));

  test('refuses a symlink that escapes through another symlink', (t) =>
    refused(
      t,
      [
        // each alone stays inside: d/b is the root, d/b/.. lexically is d
        { path: 'up', type: '2', linkName: 'd/b/..' },
        { path: 'd/b', type: '2', linkName: '..' },
      ],
      'IMAGE_SYMLINK_ESCAPES',
    ));

  test('accepts symlink chains and loops that stay inside', async (t) => {
    const d = tempDir(t);
    const tar = buildTar([
      { path: 'usr/bin/', type: '5', mode: 0o755 },
      { path: 'bin', type: '2', linkName: 'usr/bin' },
      { path: 'usr/bin/sh', type: '2', linkName: '../../bin/busybox' },
      { path: 'loop1', type: '2', linkName: 'loop2' },
      { path: 'loop2', type: '2', linkName: 'loop1/..' },
    ]);
    await unpackImage(Readable.from([tar]), join(d, 'root'));
    assert.equal(readlinkSync(join(d, 'root', 'bin')), 'usr/bin');
  });

  test('refuses a directory replaced by a file, and a file replaced by a directory', async (t) => {
    await refused(t, [{ path: 'd/', type: '5' }, { path: 'd' }], 'IMAGE_ENTRY_CONFLICT');
    await refused(t, [{ path: 'd' }, { path: 'd/', type: '5' }], 'IMAGE_ENTRY_CONFLICT');
    await refused(t, [{ path: 'f' }, { path: 'f/x' }], 'IMAGE_ENTRY_CONFLICT');
    await refused(t, [{ path: './', type: '2', linkName: 'x' }], 'IMAGE_ENTRY_CONFLICT');
  });

  test('refuses a hard link to a later entry, a folder or a symlink', async (t) => {
    await refused(
      t,
      [{ path: 'b', type: '1', linkName: 'a' }, { path: 'a' }],
      'IMAGE_HARDLINK_TARGET_MISSING',
    );
    await refused(
      t,
      [
        { path: 'd/', type: '5' },
        { path: 'b', type: '1', linkName: 'd' },
      ],
      'IMAGE_HARDLINK_TARGET_MISSING',
    );
    await refused(
      t,
      [
        { path: 's', type: '2', linkName: 'x' },
        { path: 'b', type: '1', linkName: 's' },
      ],
      'IMAGE_HARDLINK_TARGET_MISSING',
    );
  });

  test('refuses FIFOs, setgid files and owners beyond 65535', async (t) => {
    await refused(t, [{ path: 'p', type: '6' }], 'IMAGE_FIFO_REFUSED');
    await refused(t, [{ path: 'f', mode: 0o2755 }], 'IMAGE_SETUID_REFUSED');
    await refused(t, [{ path: 'f', uid: 65536 }], 'IMAGE_OWNER_OUT_OF_RANGE');
    await refused(t, [{ path: 'f', pax: { gid: '100000' } }], 'IMAGE_OWNER_OUT_OF_RANGE');
  });

  test('refuses empty paths and over-long names', async (t) => {
    await refused(t, [{ path: '' }], 'IMAGE_PATH_INVALID');
    await refused(t, [{ path: 'x', pax: { path: `${'n'.repeat(256)}` } }], 'IMAGE_PATH_INVALID');
    await refused(t, [{ path: 'l', type: '2', linkName: '' }], 'IMAGE_PATH_INVALID');
  });
});
