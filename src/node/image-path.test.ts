import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ErrorCode } from '../core/error-codes.ts';
import { VdcError } from '../core/errors.ts';
import { archivePath, checkSymlinkTarget, checkTreeSymlinks, type TreeNode } from './image-path.ts';

function code(fn: () => unknown): ErrorCode | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof VdcError);
    return err.code;
  }
}

function tree(links: Record<string, string>, dirs: string[] = []): Map<string, TreeNode> {
  const t = new Map<string, TreeNode>([['', { type: 'directory' }]]);
  for (const d of dirs) t.set(d, { type: 'directory' });
  for (const [path, target] of Object.entries(links)) t.set(path, { type: 'symlink', target });
  return t;
}

describe('image paths', () => {
  test('splits archive paths, dropping empty and dot components', () => {
    assert.deepEqual(archivePath('./a//b/./c/', 'entry'), ['a', 'b', 'c']);
    assert.deepEqual(archivePath('./', 'entry'), []);
  });

  test('refuses absolute paths, .. anywhere, NUL bytes and long names', () => {
    assert.equal(
      code(() => archivePath('/etc/passwd', 'entry')),
      'IMAGE_PATH_ABSOLUTE',
    );
    assert.equal(
      code(() => archivePath('a/../b', 'entry')),
      'IMAGE_PATH_TRAVERSAL',
    );
    assert.equal(
      code(() => archivePath('a\0b', 'entry')),
      'IMAGE_PATH_INVALID',
    );
    assert.equal(
      code(() => archivePath('x'.repeat(256), 'entry')),
      'IMAGE_PATH_INVALID',
    );
    assert.equal(
      code(() => archivePath('/x', 'link', 'IMAGE_HARDLINK_ESCAPES', 'IMAGE_HARDLINK_ESCAPES')),
      'IMAGE_HARDLINK_ESCAPES',
    );
  });

  test('reads a symlink target from its folder, an absolute one from the root', () => {
    assert.equal(
      code(() => checkSymlinkTarget(['usr', 'bin', 'sh'], '../../bin/busybox')),
      undefined,
    );
    assert.equal(
      code(() => checkSymlinkTarget(['usr', 'sh'], '../../bin')),
      'IMAGE_SYMLINK_ESCAPES',
    );
    assert.equal(
      code(() => checkSymlinkTarget(['a', 'l'], '/bin/busybox')),
      undefined,
    );
    assert.equal(
      code(() => checkSymlinkTarget(['a', 'l'], '/../x')),
      'IMAGE_SYMLINK_ESCAPES',
    );
    // climbing out and back in is still climbing out
    assert.equal(
      code(() => checkSymlinkTarget(['l'], '../root/x')),
      'IMAGE_SYMLINK_ESCAPES',
    );
  });

  test('resolves links through each other over the whole tree', () => {
    const escapes = (t: Map<string, TreeNode>) => code(() => checkTreeSymlinks(t));
    assert.equal(escapes(tree({ 'd/b': '..', up: 'd/b/..' }, ['d'])), 'IMAGE_SYMLINK_ESCAPES');
    assert.equal(escapes(tree({ r: '/', up: 'r/../x' })), 'IMAGE_SYMLINK_ESCAPES');
    assert.equal(escapes(tree({ 'd/b': '..', ok: 'd/b/etc' }, ['d'])), undefined);
    assert.equal(escapes(tree({ a: 'b', b: 'a' })), undefined);
    assert.equal(escapes(tree({ dangling: 'no/such/thing' })), undefined);
  });
});
