import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { describe, test } from 'node:test';
import { canonicalBytes, type JsonValue } from '../core/canonical-json.ts';
import { VdcError } from '../core/errors.ts';
import { sealMetadata } from './metadata-codec.ts';
import {
  jsonManifestBound,
  MAX_METADATA_BYTES,
  maxChunksPerObject,
  maxSealedMetadata,
  sealedManifestBound,
} from './metadata-limits.ts';
import { MetadataStore } from './metadata-store.ts';
import { writeObject } from './object-writer.ts';
import { ReedSolomon } from './reed-solomon.ts';
import { fakeBackends, sampleBytes, TEST_KEYS, testRequest, testTarget } from './test-support.ts';
import { shardNameKey } from './zstor-keys.ts';

/*
 * One object's manifest is one metadata blob, whose shards must each fit a zdb value and
 * whose JSON readers accept up to MAX_METADATA_BYTES: the writer refuses an object with
 * more chunks than that surely holds before writing the chunk past the limit, and a blob
 * too large is refused before any of its shards is written.
 */

/** A format-1 manifest of `n` chunks with random hashes (what does not compress). */
function manifestOf(n: number, ids: readonly string[]): JsonValue {
  const chunks = Array.from({ length: n }, () => {
    const sealed = 4_194_320 - randomInt(1_000_000); // compressed chunks vary in size
    return {
      size: 4_194_304,
      sealed,
      flags: 1,
      shards: ids.map((backend) => ({ backend, hash: randomBytes(32).toString('hex') })),
    };
  });
  return {
    format: 1,
    name: 'n'.repeat(1024),
    objectId: randomBytes(16).toString('hex'),
    version: 1,
    versionSalt: randomBytes(16).toString('hex'),
    size: n * 4_194_304,
    sha256: randomBytes(32).toString('hex'),
    createdAt: 1_764_100_000_000,
    data: 4,
    parity: 2,
    chunkSize: 4_194_304,
    chunks,
  };
}

describe('metadata limits', () => {
  test('the bounds the chunk limit rests on hold for real manifests', () => {
    for (const ids of [
      Array.from({ length: 6 }, (_, i) => `10.1.0.${i + 2}:9900/ns${i}`),
      Array.from(
        { length: 6 },
        (_, i) => `[2001:db8:1234:5678::${i + 2}]:9900/${'x'.repeat(60)}${i}`,
      ),
    ]) {
      const longest = Math.max(...ids.map((id) => id.length));
      const n = 10_000;
      const m = manifestOf(n, ids);
      const json = canonicalBytes(m).length;
      const sealed = sealMetadata(TEST_KEYS.meta, 'manifest', m).length;
      assert.ok(json <= jsonManifestBound(6, longest, n), `${json} JSON bytes for ${n} chunks`);
      assert.ok(sealed <= sealedManifestBound(6, n), `${sealed} sealed bytes for ${n} chunks`);
      // …which leaves room for over 400 GiB per object with 4 MiB chunks and 4+2
      const most = maxChunksPerObject(4, 2, longest);
      assert.ok(most * 4 * 2 ** 20 > 400 * 2 ** 30, `${most} chunks`);
      assert.ok(sealedManifestBound(6, most) <= maxSealedMetadata(4));
      assert.ok(jsonManifestBound(6, longest, most) <= MAX_METADATA_BYTES);
    }
  });

  test('a manifest blob too large for its shards is refused before any is written', async () => {
    const backends = fakeBackends(2);
    const meta = new MetadataStore({
      backends,
      rs: new ReedSolomon(1, 1),
      distinctFarms: false,
      minShards: 2,
      metaKey: TEST_KEYS.meta,
      nameKey: shardNameKey(TEST_KEYS.meta),
    });
    const err = await meta
      .putManifest(manifestOf(40_000, ['b0', 'b1', 'b2', 'b3', 'b4', 'b5']))
      .catch((e) => e);
    assert.ok(err instanceof VdcError);
    assert.equal(err.code, 'ZSTOR_METADATA_TOO_LARGE');
    assert.match(err.message, /over the \d+ that 1 shards/);
    for (const b of backends) assert.equal(b.puts, 0);
  });

  test('the writer refuses an object past the chunk limit before writing that chunk', async () => {
    const backends = fakeBackends(6);
    const target = { ...testTarget(backends, { chunkSize: 1024 }), maxChunks: 3 };
    const ok = await writeObject(target, testRequest('three'), [sampleBytes(3 * 1024)]);
    assert.equal(ok.chunks.length, 3);
    const before = backends.reduce((n, b) => n + b.puts, 0);
    const err = await writeObject(target, testRequest('five'), [sampleBytes(5 * 1024)]).catch(
      (e) => e,
    );
    assert.ok(err instanceof VdcError);
    assert.equal(err.code, 'ZSTOR_OBJECT_TOO_LARGE');
    assert.match(err.message, /"five" has more than 3 chunks of 1024 bytes/);
    // nothing past the limit was written: at most the three chunks within it (6 shards each)
    assert.ok(backends.reduce((n, b) => n + b.puts, 0) - before <= 3 * 6);
  });
});
