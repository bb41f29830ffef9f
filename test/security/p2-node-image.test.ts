/*
 * P2, signed intent only, for images: a node runs only the bytes the owner's deployment
 * names by digest, and an image cannot reach outside its own root while it is unpacked.
 * Each hostile image is served over real HTTP on loopback to a cache that already holds
 * one good image; each is refused with its own code, and afterwards the cache folder and
 * a folder outside it that the attacks aim at are exactly as they were.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ErrorCode } from '../../src/core/error-codes.ts';
import { VdcError } from '../../src/core/errors.ts';
import { ImageCache } from '../../src/node/index.ts';
import { buildTar, type KitEntry, sha256Hex } from '../../src/node/tar-test-kit.ts';

/** Every path below `dir` with its type, mode, size and owner, sorted. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      out.push(`${relative(dir, p)} ${st.mode.toString(8)} ${st.size} ${st.uid}:${st.gid}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

const work = mkdtempSync(join(tmpdir(), 'vdc-p2-image-'));
// The folder the attacks aim at, beside the node's folder.
const outside = join(work, 'outside');
const served = new Map<string, Buffer>();
let base = '';
let cache: ImageCache;
const server = createServer((req, res) => {
  const body = served.get(req.url ?? '');
  if (body) res.end(body);
  else res.writeHead(404).end();
});

before(async () => {
  mkdirSync(outside);
  writeFileSync(join(outside, 'shadow'), 'root:secret');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cache = new ImageCache(join(work, 'node', 'images'));
  const good = buildTar([{ path: 'bin/sh', data: 'ok', mode: 0o755 }], { gzip: true });
  served.set('/good', good);
  await cache.ensure({ url: `${base}/good`, sha256: sha256Hex(good) });
});

after(() => {
  server.closeAllConnections();
  server.close();
  rmSync(work, { recursive: true, force: true });
});

async function refused(entries: KitEntry[] | Buffer, code: ErrorCode, digest?: string) {
  const tar = Buffer.isBuffer(entries) ? entries : buildTar(entries, { gzip: true });
  const path = `/${sha256Hex(tar)}`;
  served.set(path, tar);
  const before = [listing(cache.dir), listing(outside)];
  await assert.rejects(
    cache.ensure({ url: `${base}${path}`, sha256: digest ?? sha256Hex(tar) }),
    (err: unknown) => {
      assert.ok(err instanceof VdcError, `expected a VdcError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      return true;
    },
  );
  assert.deepEqual([listing(cache.dir), listing(outside)], before, 'a refused image changed files');
  assert.equal(cache.list().length, 1);
}

// rootfs is unpacked at work/node/images/.staging-*/.rootfs.unpack-*: four levels up is work.
const climb = '../../../../outside';

describe('P2: images', () => {
  test('refuses an image whose digest does not match the deployment', async () => {
    const tar = buildTar([{ path: 'bin/sh', data: 'evil', mode: 0o755 }], { gzip: true });
    await refused(
      tar,
      'IMAGE_DIGEST_MISMATCH',
      sha256Hex(Buffer.from('the image the owner named')),
    );
  });

  test("refuses a path with '..', in the header, a pax record or a GNU long name", async () => {
    await refused([{ path: `${climb}/planted`, data: 'x' }], 'IMAGE_PATH_TRAVERSAL');
    await refused([{ path: 'bin/../../x', data: 'x' }], 'IMAGE_PATH_TRAVERSAL');
    await refused([{ path: 'ok', data: 'x', pax: { path: `${climb}/p` } }], 'IMAGE_PATH_TRAVERSAL');
    await refused(
      [
        { path: '././@LongLink', type: 'L', data: `${climb}/long\0`, gnu: true },
        { path: 'ok', data: 'x', gnu: true },
      ],
      'IMAGE_PATH_TRAVERSAL',
    );
  });

  test('refuses an absolute path', async () => {
    await refused([{ path: `${outside}/planted`, data: 'x' }], 'IMAGE_PATH_ABSOLUTE');
  });

  test('refuses a symlink escaping the root, relative or absolute', async () => {
    await refused([{ path: 'etc/l', type: '2', linkName: `../${climb}` }], 'IMAGE_SYMLINK_ESCAPES');
    await refused(
      [{ path: 'l', type: '2', linkName: '/../../etc/shadow' }],
      'IMAGE_SYMLINK_ESCAPES',
    );
    await refused(
      [
        { path: 'a/b', type: '2', linkName: '..' },
        { path: 'c', type: '2', linkName: 'a/b/../etc' },
      ],
      'IMAGE_SYMLINK_ESCAPES',
    );
  });

  test('refuses to write through a symlink it created', async () => {
    await refused(
      [
        { path: 'x', type: '2', linkName: outside },
        { path: 'x/shadow', data: 'pwned' },
      ],
      'IMAGE_PATH_THROUGH_SYMLINK',
    );
    await refused(
      [
        { path: 'x/', type: '5' },
        { path: 'x', type: '2', linkName: outside },
        { path: 'x/shadow', data: 'pwned' },
      ],
      'IMAGE_ENTRY_CONFLICT',
    );
  });

  test('refuses a hard link to a file outside the root', async () => {
    await refused(
      [{ path: 'h', type: '1', linkName: `${climb}/shadow` }],
      'IMAGE_HARDLINK_ESCAPES',
    );
    await refused(
      [{ path: 'h', type: '1', linkName: `${outside}/shadow` }],
      'IMAGE_HARDLINK_ESCAPES',
    );
  });

  test('refuses device nodes', async () => {
    await refused([{ path: 'dev/sda', type: '4', mode: 0o666 }], 'IMAGE_DEVICE_REFUSED');
    await refused([{ path: 'dev/mem', type: '3', mode: 0o666 }], 'IMAGE_DEVICE_REFUSED');
  });

  test('refuses a setuid file', async () => {
    await refused([{ path: 'bin/su', data: 'x', mode: 0o4755 }], 'IMAGE_SETUID_REFUSED');
  });
});
