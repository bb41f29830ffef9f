import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalBytes } from '../core/canonical-json.ts';
import { VdcError } from '../core/errors.ts';
import { openMetadata, sealMetadata } from './metadata-codec.ts';
import { parseRoot } from './metadata-root.ts';
import { parseManifest } from './object-manifest.ts';

const key = Buffer.alloc(32, 3);
const manifest = {
  format: 1,
  name: 'a',
  objectId: '00'.repeat(16),
  version: 1,
  versionSalt: '11'.repeat(16),
  size: 5,
  sha256: '22'.repeat(32),
  createdAt: 1,
  data: 1,
  parity: 1,
  chunkSize: 4096,
  chunks: [
    {
      size: 5,
      sealed: 21,
      flags: 0,
      shards: [
        { backend: 'b0', hash: '33'.repeat(32) },
        { backend: null, hash: '44'.repeat(32) },
      ],
    },
  ],
};

test('metadata round trips, and each sealing uses a fresh salt', () => {
  const a = sealMetadata(key, 'manifest', manifest);
  const b = sealMetadata(key, 'manifest', manifest);
  assert.notDeepEqual(a, b);
  assert.deepEqual(parseManifest(openMetadata(key, 'manifest', a)), manifest);
  assert.ok(!a.includes(Buffer.from('"name"')), 'the plaintext does not show');
});

test('serialisation is deterministic: key order does not change the bytes', () => {
  const reordered = Object.fromEntries(Object.entries(manifest).reverse());
  assert.deepEqual(canonicalBytes(reordered), canonicalBytes(manifest));
});

test('a wrong key, a flipped byte or the wrong kind is refused', () => {
  const blob = sealMetadata(key, 'manifest', manifest);
  const code = (fn: () => unknown, c: string) =>
    assert.throws(fn, (e) => e instanceof VdcError && e.code === c);
  code(() => openMetadata(Buffer.alloc(32, 4), 'manifest', blob), 'ZSTOR_METADATA_UNDECRYPTABLE');
  const flipped = Buffer.from(blob);
  flipped[50]! ^= 1;
  code(() => openMetadata(key, 'manifest', flipped), 'ZSTOR_METADATA_UNDECRYPTABLE');
  code(() => openMetadata(key, 'root', blob), 'ZSTOR_METADATA_MALFORMED');
  code(() => openMetadata(key, 'manifest', blob.subarray(0, 20)), 'ZSTOR_METADATA_MALFORMED');
});

test('manifests and roots with missing, extra or out-of-range fields are refused', () => {
  const code = (fn: () => unknown) =>
    assert.throws(fn, (e) => e instanceof VdcError && e.code === 'ZSTOR_METADATA_MALFORMED');
  code(() => parseManifest({ ...manifest, extra: 1 }));
  code(() => parseManifest({ ...manifest, size: 6 }));
  code(() => parseManifest({ ...manifest, objectId: 'zz' }));
  code(() => parseManifest({ ...manifest, chunks: [{ ...manifest.chunks[0]!, shards: [] }] }));
  code(() => parseRoot({ format: 1, generation: 0, objects: {} }));
  code(() =>
    parseRoot({
      format: 1,
      generation: 1,
      objects: { a: { objectId: '00'.repeat(16), versions: [] } },
    }),
  );
  assert.deepEqual(parseRoot({ format: 1, generation: 1, objects: {} }).generation, 1);
});
