import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ZdbShardBackend, ZstorStore, zstorKeysFromSeed } from '../../src/zstor/index.ts';
import { startZdbNodes } from '../../src/zstor/zdb-backend-test-kit.ts';

/*
 * P5 — no backend can read the data: after storing objects through six real zdb servers,
 * every file those servers wrote (data and index) is read directly from disk, as an
 * operator with root on the machine could, and searched for the plaintext (incompressible
 * and compressible), the object names (in UTF-8 and UTF-16), the plaintext's SHA-256 and
 * the keys. None is there; zdb keys are 32-byte keyed hashes.
 */

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

test('P5: zdb files on disk hold neither plaintext, names, hashes nor keys', async (t) => {
  const nodes = await startZdbNodes(t, 6);
  const backends = nodes.map((n) => new ZdbShardBackend(n.backend));
  t.after(() => {
    for (const b of backends) b.close();
  });
  const keys = zstorKeysFromSeed(randomBytes(64));
  const store = new ZstorStore(backends, keys, { data: 4, parity: 2, chunkSize: 64 * 1024 });
  const secretName = 'tax-returns/2026/very-secret-report.pdf';
  const secretText = Buffer.from(
    'The launch code is swordfish-7731. Repeat: the launch code is swordfish-7731.\n'.repeat(500),
  );
  const random = randomBytes(300_000);
  await store.put(secretName, [secretText]);
  await store.put('holiday/photo-0001.raw', [random]);
  for (const b of backends) b.close();
  for (const n of nodes) await n.stop(); // flushed to disk

  const needles: [string, Buffer][] = [
    ['object name', Buffer.from(secretName)],
    ['object name (UTF-16)', Buffer.from(secretName, 'utf16le')],
    ['name part', Buffer.from('very-secret-report')],
    ['other name', Buffer.from('photo-0001')],
    ['text', Buffer.from('swordfish-7731')],
    ['text sha256', createHash('sha256').update(secretText).digest()],
    ['random sha256', createHash('sha256').update(random).digest()],
    ['data key', keys.data],
    ['meta key', keys.meta],
  ];
  for (let at = 0; at + 32 <= random.length; at += 9973)
    needles.push([`random bytes at ${at}`, random.subarray(at, at + 32)]);

  let scanned = 0;
  let shards = 0;
  for (const n of nodes)
    for (const f of filesUnder(n.dir)) {
      const bytes = readFileSync(f);
      scanned += bytes.length;
      for (let at = bytes.indexOf('VZSH'); at >= 0; at = bytes.indexOf('VZSH', at + 4)) shards++;
      for (const [what, needle] of needles)
        assert.equal(bytes.indexOf(needle), -1, `${what} found in ${f}`);
    }
  // The files do hold the data (so the search was over something): every shard is there.
  assert.ok(scanned > (300_000 * 6) / 4, `scanned ${scanned} bytes`);
  assert.ok(shards >= 6 * (5 + 1 + 1 + 1), `found ${shards} shards`);
});
