import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { writeFileAtomic, writeFileAtomicAsync } from './atomic-file.ts';
import { VdcError } from './errors.ts';

type After = { after: (fn: () => unknown) => void };

function tempDir(t: After): string {
  const dir = mkdtempSync(join(tmpdir(), 'vdc-atomic-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs with umask 0, so any mode narrower than asked comes from the write, not the umask. */
function withoutUmask(t: After): void {
  const umask = process.umask(0);
  t.after(() => process.umask(umask));
}

function isWriteFailed(path: string) {
  return (err: unknown) => {
    assert.ok(err instanceof VdcError, `expected VdcError FILE_WRITE_FAILED, got ${String(err)}`);
    assert.equal(err.code, 'FILE_WRITE_FAILED', err.message);
    assert.ok(err.message.includes(path), 'the message names the file');
    return true;
  };
}

const writers = {
  writeFileAtomic: async (path: string, data: string | Uint8Array, mode?: number) =>
    writeFileAtomic(path, data, mode),
  writeFileAtomicAsync,
};

for (const [name, write] of Object.entries(writers)) {
  describe(name, () => {
    test('writes the content with mode 0600 by default, even where the umask allows more', async (t) => {
      withoutUmask(t);
      const dir = tempDir(t);
      const path = join(dir, 'head.json');
      await write(path, '{"size":1}\n');
      assert.equal(readFileSync(path, 'utf8'), '{"size":1}\n');
      assert.equal(statSync(path).mode & 0o777, 0o600);
      await write(join(dir, 'shared'), new Uint8Array([1, 2, 3]), 0o640);
      assert.deepEqual([...readFileSync(join(dir, 'shared'))], [1, 2, 3]);
      assert.equal(statSync(join(dir, 'shared')).mode & 0o777, 0o640);
    });

    test('replaces an existing file, with the new mode, and leaves no temporary file', async (t) => {
      withoutUmask(t);
      const dir = tempDir(t);
      const path = join(dir, 'head.json');
      writeFileSync(path, 'old', { mode: 0o644 });
      await write(path, 'new');
      assert.equal(readFileSync(path, 'utf8'), 'new');
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.deepEqual(readdirSync(dir), ['head.json']);
    });

    test('a folder that cannot exist (a file in the way) → FILE_WRITE_FAILED, nothing changed', async (t) => {
      const dir = tempDir(t);
      writeFileSync(join(dir, 'file.txt'), 'old');
      const path = join(dir, 'file.txt', 'x');
      await assert.rejects(write(path, 'new'), isWriteFailed(path));
      assert.equal(readFileSync(join(dir, 'file.txt'), 'utf8'), 'old');
      assert.deepEqual(readdirSync(dir), ['file.txt']);
    });

    test('a rename that fails after the temporary file was written → FILE_WRITE_FAILED, it is removed', async (t) => {
      const dir = tempDir(t);
      // A folder that is not empty cannot be replaced by a file.
      const path = join(dir, 'taken');
      mkdirSync(path);
      writeFileSync(join(path, 'inside'), 'old');
      await assert.rejects(write(path, 'new'), isWriteFailed(path));
      assert.deepEqual(readdirSync(dir), ['taken']);
      assert.equal(readFileSync(join(path, 'inside'), 'utf8'), 'old');
    });
  });
}

describe('writeFileAtomicAsync off the event loop', () => {
  test('a setImmediate queued after the call runs before the write settles', async (t) => {
    const path = join(tempDir(t), 'head.json');
    let turned = false;
    const writing = writeFileAtomicAsync(path, 'x').then(() => turned);
    setImmediate(() => {
      turned = true;
    });
    assert.equal(await writing, true, 'the event loop turned while the file was written');
    assert.equal(readFileSync(path, 'utf8'), 'x');
    // Control: the same check fails for the blocking version, which is done within the call.
    turned = false;
    const blocking = writers.writeFileAtomic(path, 'y').then(() => turned);
    setImmediate(() => {
      turned = true;
    });
    assert.equal(await blocking, false);
  });
});
