import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import type { ErrorCode } from '../core/error-codes.ts';
import { VdcError } from '../core/errors.ts';
import { readTar, type TarEntry, type TarLimits } from './image-tar.ts';
import { buildTar, systemTar } from './tar-test-kit.ts';

type Read = TarEntry & { text: string };

async function readAll(tar: Buffer, limits: Partial<TarLimits> = {}, chunk = 700): Promise<Read[]> {
  // Small chunks, so headers and bodies straddle chunk boundaries.
  async function* chunks() {
    for (let i = 0; i < tar.length; i += chunk) yield tar.subarray(i, i + chunk);
  }
  const out: Read[] = [];
  for await (const { entry, body } of readTar(chunks(), limits)) {
    const parts: Buffer[] = [];
    for await (const piece of body) parts.push(piece);
    out.push({ ...entry, text: Buffer.concat(parts).toString() });
  }
  return out;
}

function hasCode(code: ErrorCode) {
  return (err: unknown) => err instanceof VdcError && err.code === code;
}

function sampleDir(t: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'vdc-tar-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  mkdirSync(join(d, 'bin'));
  writeFileSync(join(d, 'bin', 'tool'), 'x'.repeat(1300), { mode: 0o755 });
  symlinkSync('tool', join(d, 'bin', 'alias'));
  linkSync(join(d, 'bin', 'tool'), join(d, 'bin', 'hard'));
  const long = 'd'.repeat(90);
  mkdirSync(join(d, long));
  writeFileSync(join(d, long, `${'f'.repeat(60)}.txt`), 'long');
  symlinkSync(`../bin/${'t'.repeat(120)}`, join(d, 'longlink'));
  return d;
}

function byPath(entries: Read[]): Map<string, Read> {
  return new Map(entries.map((e) => [e.path.replace(/^\.\//, '').replace(/\/$/, ''), e]));
}

describe('tar reader', () => {
  for (const format of ['gnu', 'posix'])
    for (const gzip of [false, true])
      test(`reads GNU tar's ${format} format${gzip ? ', gzipped' : ''}, long names included`, async (t) => {
        const d = sampleDir(t);
        const got = byPath(await readAll(systemTar(d, { format, gzip })));
        assert.equal(got.get('bin')?.type, 'directory');
        assert.equal(got.get('bin/tool')?.text, 'x'.repeat(1300));
        assert.equal(got.get('bin/tool')?.mode, 0o755);
        assert.equal(got.get('bin/alias')?.type, 'symlink');
        assert.equal(got.get('bin/alias')?.linkTarget, 'tool');
        const hard = got.get('bin/hard') ?? got.get('bin/tool');
        assert.ok([got.get('bin/hard')?.type, got.get('bin/tool')?.type].includes('hardlink'));
        assert.ok(hard);
        const long = `${'d'.repeat(90)}/${'f'.repeat(60)}.txt`;
        assert.equal(got.get(long)?.text, 'long');
        assert.equal(got.get('longlink')?.linkTarget, `../bin/${'t'.repeat(120)}`);
      });

  test('skips bodies left unread', async () => {
    const tar = buildTar([
      { path: 'a', data: 'A'.repeat(2000) },
      { path: 'b', data: 'B' },
    ]);
    const paths: string[] = [];
    for await (const { entry } of readTar(Readable.from([tar]))) paths.push(entry.path);
    assert.deepEqual(paths, ['a', 'b']);
  });

  test('applies pax path, linkpath, size, uid and gid', async () => {
    const tar = buildTar([
      { path: 'short', data: 'hello', size: 0, pax: { path: 'ü/long name', size: '5', uid: '42' } },
      { path: 'l', type: '2', linkName: 'x', pax: { linkpath: 'target/ü', gid: '7' } },
    ]);
    const [file, link] = await readAll(tar);
    assert.equal(file?.path, 'ü/long name');
    assert.equal(file?.text, 'hello');
    assert.equal(file?.uid, 42);
    assert.equal(link?.linkTarget, 'target/ü');
    assert.equal(link?.gid, 7);
  });

  test('applies GNU long names and long links', async () => {
    const name = `${'n'.repeat(200)}/file`;
    const link = `${'l'.repeat(300)}`;
    const tar = buildTar([
      { path: '././@LongLink', type: 'L', data: `${name}\0`, gnu: true },
      { path: '././@LongLink', type: 'K', data: `${link}\0`, gnu: true },
      { path: 'cut', type: '2', gnu: true },
    ]);
    const [entry] = await readAll(tar);
    assert.equal(entry?.path, name);
    assert.equal(entry?.linkTarget, link);
  });

  test('refuses a header whose checksum is wrong', async () => {
    await assert.rejects(
      readAll(buildTar([{ path: 'a', data: 'x', badChecksum: true }])),
      hasCode('IMAGE_TAR_MALFORMED'),
    );
  });

  test('refuses a tarball cut in the middle of an entry', async () => {
    const tar = buildTar([{ path: 'a', data: 'x'.repeat(3000) }]);
    await assert.rejects(readAll(tar.subarray(0, 2048)), hasCode('IMAGE_TAR_MALFORMED'));
  });

  test('refuses input that is not tar, and a corrupt gzip stream', async () => {
    await assert.rejects(readAll(Buffer.alloc(512, 7)), hasCode('IMAGE_TAR_MALFORMED'));
    const gz = buildTar([{ path: 'a', data: 'x'.repeat(5000) }], { gzip: true });
    await assert.rejects(readAll(gz.subarray(0, gz.length - 20)), hasCode('IMAGE_TAR_MALFORMED'));
  });

  test('refuses sparse and other vendor entry types', async () => {
    await assert.rejects(
      readAll(buildTar([{ path: 'a', type: 'S', gnu: true }])),
      hasCode('IMAGE_ENTRY_TYPE_UNSUPPORTED'),
    );
  });

  test('refuses a directory or link that claims data', async () => {
    await assert.rejects(
      readAll(buildTar([{ path: 'd/', type: '5', data: 'x' }])),
      hasCode('IMAGE_TAR_MALFORMED'),
    );
  });

  test('refuses a pax header with a record overrunning it', async () => {
    const tar = buildTar([
      { path: 'PaxHeader', type: 'x', data: '99 path=x\n' },
      { path: 'a', data: 'x' },
    ]);
    await assert.rejects(readAll(tar), hasCode('IMAGE_TAR_MALFORMED'));
  });

  test('bounds entries, path length, extended headers and the unpacked size', async () => {
    const limit = hasCode('IMAGE_TAR_LIMIT_EXCEEDED');
    const three = buildTar([{ path: 'a' }, { path: 'b' }, { path: 'c' }]);
    assert.equal((await readAll(three, { maxEntries: 3 })).length, 3);
    await assert.rejects(readAll(three, { maxEntries: 2 }), limit);
    const longPath = buildTar([{ path: 'x', pax: { path: 'p'.repeat(300) } }]);
    await assert.rejects(readAll(longPath, { maxPathBytes: 255 }), limit);
    await assert.rejects(readAll(longPath, { maxPaxBytes: 100 }), limit);
    const big = buildTar([
      { path: 'a', data: 'x'.repeat(600) },
      { path: 'b', data: 'x'.repeat(600) },
    ]);
    assert.equal((await readAll(big, { maxTotalBytes: 1200 })).length, 2);
    await assert.rejects(readAll(big, { maxTotalBytes: 1199 }), limit);
  });
});
