import assert from 'node:assert/strict';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { requireRoot } from '../../test/support/requirements.ts';
import type { ErrorCode } from '../core/error-codes.ts';
import { VdcError } from '../core/errors.ts';
import { ImageCache } from './image-cache.ts';
import { buildTar, sha256Hex, systemTar } from './tar-test-kit.ts';

function tempDir(t: TestContext): string {
  const d = mkdtempSync(join(tmpdir(), 'vdc-cache-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A real HTTP server on loopback; `hits` counts requests per path. */
async function serve(t: TestContext, handler: RequestListener) {
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, hits };
}

function hasCode(code: ErrorCode) {
  return (err: unknown) => {
    assert.ok(err instanceof VdcError, `expected a VdcError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

const image = buildTar(
  [
    { path: 'bin/', type: '5', mode: 0o755 },
    { path: 'bin/busybox', data: 'ELF...', mode: 0o755 },
    { path: 'bin/sh', type: '1', linkName: 'bin/busybox' },
    { path: 'bin/ls', type: '2', linkName: 'busybox' },
    { path: 'home/', type: '5', mode: 0o750, uid: 1000, gid: 1000 },
    { path: 'home/notes', data: 'hi', mode: 0o600, uid: 1000, gid: 100 },
  ],
  { gzip: true },
);
const digest = sha256Hex(image);

describe('image cache', () => {
  test('fetches, verifies and unpacks once; later and concurrent calls share it', async (t) => {
    const { base, hits } = await serve(t, (_req, res) => res.end(image));
    const cache = new ImageCache(tempDir(t));
    const ref = { url: `${base}/img.tar.gz`, sha256: digest };
    const progress: number[] = [];
    const [a, b] = await Promise.all([
      cache.ensure(ref, { onProgress: (p) => progress.push(p.received) }),
      cache.ensure(ref),
    ]);
    assert.equal(a, b);
    assert.equal(readFileSync(join(a, 'bin', 'busybox'), 'utf8'), 'ELF...');
    assert.equal(await cache.ensure(ref), a);
    assert.equal(hits.get('/img.tar.gz'), 1);
    assert.equal(progress.at(-1), image.length);
    assert.deepEqual(cache.list(), [digest]);
    assert.deepEqual(readdirSync(cache.dir), [digest]);
    assert.deepEqual(readdirSync(join(cache.dir, digest)).sort(), [
      'complete',
      'manifest.json',
      'rootfs',
    ]);
  });

  test('caches a tarball made by GNU tar, uncompressed', async (t) => {
    const src = tempDir(t);
    writeFileSync(join(src, 'hello'), 'world');
    const tar = systemTar(src);
    const { base } = await serve(t, (_req, res) => res.end(tar));
    const cache = new ImageCache(tempDir(t));
    const root = await cache.ensure({ url: `${base}/x.tar`, sha256: sha256Hex(tar) });
    assert.equal(readFileSync(join(root, 'hello'), 'utf8'), 'world');
  });

  test('refuses bytes whose digest differs, and keeps nothing', async (t) => {
    const { base } = await serve(t, (_req, res) => res.end(image));
    const cache = new ImageCache(tempDir(t));
    await assert.rejects(
      cache.ensure({ url: `${base}/img`, sha256: 'ab'.repeat(32) }),
      hasCode('IMAGE_DIGEST_MISMATCH'),
    );
    assert.deepEqual(readdirSync(cache.dir), []);
  });

  test('follows up to three redirects, not four', async (t) => {
    const { base } = await serve(t, (req, res) => {
      const n = Number(req.url?.slice(1));
      if (n > 0) res.writeHead(302, { location: `/${n - 1}` }).end();
      else res.end(image);
    });
    const cache = new ImageCache(tempDir(t));
    await assert.rejects(
      cache.ensure({ url: `${base}/4`, sha256: digest }),
      hasCode('IMAGE_FETCH_FAILED'),
    );
    assert.deepEqual(readdirSync(cache.dir), []);
    await cache.ensure({ url: `${base}/3`, sha256: digest });
    assert.deepEqual(cache.list(), [digest]);
  });

  test('refuses a download past the size cap, announced or not', async (t) => {
    const { base } = await serve(t, (req, res) => {
      if (req.url === '/chunked') res.write(image);
      res.end(req.url === '/chunked' ? Buffer.alloc(0) : image);
    });
    const cache = new ImageCache(tempDir(t));
    for (const path of ['/sized', '/chunked'])
      await assert.rejects(
        cache.ensure({ url: `${base}${path}`, sha256: digest }, { maxBytes: image.length - 1 }),
        hasCode('IMAGE_TOO_LARGE'),
      );
    assert.deepEqual(readdirSync(cache.dir), []);
  });

  test('gives up on a server that stalls', async (t) => {
    const { base } = await serve(t, (_req, res) => {
      res.writeHead(200, { 'content-length': String(image.length) });
      res.write(image.subarray(0, 10));
    });
    const cache = new ImageCache(tempDir(t));
    await assert.rejects(
      cache.ensure({ url: `${base}/slow`, sha256: digest }, { timeoutMs: 200 }),
      hasCode('IMAGE_FETCH_TIMEOUT'),
    );
    assert.deepEqual(readdirSync(cache.dir), []);
  });

  test('refuses bad references and failed fetches with their own codes', async (t) => {
    const { base } = await serve(t, (_req, res) => res.writeHead(404).end());
    const cache = new ImageCache(tempDir(t));
    const bad = hasCode('IMAGE_REFERENCE_INVALID');
    await assert.rejects(cache.ensure({ url: `${base}/x`, sha256: 'AB'.repeat(32) }), bad);
    await assert.rejects(cache.ensure({ url: 'file:///etc/passwd', sha256: digest }), bad);
    await assert.rejects(cache.ensure({ url: 'http://u:p@127.0.0.1/', sha256: digest }), bad);
    await assert.rejects(
      cache.ensure({ url: `${base}/x`, sha256: digest }),
      hasCode('IMAGE_FETCH_FAILED'),
    );
    await assert.rejects(
      cache.ensure({ url: 'http://127.0.0.1:1/x', sha256: digest }),
      hasCode('IMAGE_FETCH_FAILED'),
    );
    assert.deepEqual(readdirSync(cache.dir), []);
  });

  test('removes images and the leftovers of an interrupted run', async (t) => {
    const { base } = await serve(t, (_req, res) => res.end(image));
    const dir = tempDir(t);
    const cache = new ImageCache(dir);
    await cache.ensure({ url: `${base}/i`, sha256: digest });
    mkdirSync(join(dir, '.staging-abc'));
    writeFileSync(join(dir, '.download-abc'), 'partial');
    mkdirSync(join(dir, 'cd'.repeat(32)));
    assert.deepEqual(new ImageCache(dir).list(), [digest]);
    assert.deepEqual(readdirSync(dir), [digest]);
    assert.equal(await cache.remove(digest), true);
    assert.equal(await cache.remove(digest), false);
    assert.deepEqual(readdirSync(dir), []);
    await assert.rejects(
      cache.materialize(digest, join(dir, 'x'), { uidBase: 0, gidBase: 0 }),
      hasCode('IMAGE_NOT_CACHED'),
    );
  });

  test('materializes a copy owned by the shifted ids, links kept, cache untouched', async (t) => {
    if (!requireRoot(t)) return;
    const { base } = await serve(t, (_req, res) => res.end(image));
    const cache = new ImageCache(tempDir(t));
    const root = await cache.ensure({ url: `${base}/i`, sha256: digest });
    const out = tempDir(t);
    const dest = join(out, 'rootfs');
    await cache.materialize(digest, dest, { uidBase: 200_000, gidBase: 300_000 });
    const st = (p: string) => lstatSync(join(dest, p));
    assert.deepEqual([st('.').uid, st('.').gid], [200_000, 300_000]);
    assert.deepEqual(
      [st('home').uid, st('home').gid, st('home').mode & 0o7777],
      [201_000, 301_000, 0o750],
    );
    assert.deepEqual([st('home/notes').uid, st('home/notes').gid], [201_000, 300_100]);
    assert.equal(st('home/notes').mode & 0o7777, 0o600);
    assert.equal(readlinkSync(join(dest, 'bin/ls')), 'busybox');
    assert.equal(st('bin/ls').uid, 200_000);
    assert.equal(st('bin/sh').ino, st('bin/busybox').ino);
    assert.notEqual(st('bin/busybox').ino, statSync(join(root, 'bin/busybox')).ino);
    assert.equal(statSync(join(root, 'home/notes')).uid, 0);
    assert.deepEqual(readdirSync(out), ['rootfs']);
    await assert.rejects(
      cache.materialize(digest, dest, { uidBase: 200_000, gidBase: 300_000 }),
      hasCode('IMAGE_DEST_EXISTS'),
    );
    await assert.rejects(
      cache.materialize(digest, join(out, 'y'), { uidBase: -1, gidBase: 0 }),
      hasCode('INPUT_INVALID'),
    );
    assert.deepEqual(readdirSync(out), ['rootfs']);
  });

  test('refuses to materialize from a cache that differs from its manifest', async (t) => {
    const { base } = await serve(t, (_req, res) => res.end(image));
    const cache = new ImageCache(tempDir(t));
    const root = await cache.ensure({ url: `${base}/i`, sha256: digest });
    rmSync(join(root, 'bin', 'ls'));
    const out = tempDir(t);
    await assert.rejects(
      cache.materialize(digest, join(out, 'r'), { uidBase: 0, gidBase: 0 }),
      hasCode('IMAGE_CACHE_CORRUPT'),
    );
    assert.deepEqual(readdirSync(out), []);
  });
});
