import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { JsonValue } from '../core/canonical-json.ts';
import { VdcError } from '../core/errors.ts';
import { spliceManifests } from './manifest-splice.ts';
import {
  chunkOrigins,
  compositeSha256,
  type PlainManifest,
  parseManifest,
  type SplicedManifest,
} from './object-manifest.ts';

/** A format-1 manifest (as put writes) with chunks of these sizes and random ids and hashes. */
function plain(sizes: number[], data = 4, parity = 2): PlainManifest {
  const hex = (n: number) => randomBytes(n).toString('hex');
  return {
    format: 1,
    name: `part-${hex(2)}`,
    objectId: hex(16),
    version: 1,
    versionSalt: hex(16),
    size: sizes.reduce((a, b) => a + b, 0),
    sha256: hex(32),
    createdAt: 1_700_000_000_000,
    data,
    parity,
    chunkSize: 4096,
    chunks: sizes.map((size) => ({
      size,
      sealed: size + 16,
      flags: 0,
      shards: Array.from({ length: data + parity }, (_, i) => ({
        backend: `b${i}`,
        hash: hex(32),
      })),
    })),
  };
}

const head = { name: 'joined', objectId: Buffer.alloc(16, 3), version: 2, createdAt: 1 };

/** The manifest as the metadata store would hand it back: JSON, then parsed. */
const roundTrip = (m: unknown) => parseManifest(JSON.parse(JSON.stringify(m)) as JsonValue);

function refused(m: SplicedManifest, change: (j: Record<string, unknown>) => void, why: RegExp) {
  const j = JSON.parse(JSON.stringify(m)) as Record<string, unknown>;
  change(j);
  assert.throws(
    () => parseManifest(j as JsonValue),
    (e: unknown) =>
      e instanceof VdcError && e.code === 'ZSTOR_METADATA_MALFORMED' && why.test(e.message),
  );
}

test('a spliced manifest lists each part whole, in order, and parses back as it was', () => {
  const a = plain([4096, 4096, 100]);
  const b = plain([]);
  const c = plain([4096, 7], 3, 3);
  const m = spliceManifests(head, [a, b, c]);
  assert.equal(m.format, 2);
  assert.equal(m.size, 4096 * 3 + 100 + 7);
  assert.equal(m.sha256, compositeSha256([a, b, c]));
  const expected = createHash('sha256')
    .update(Buffer.concat([a, b, c].map((p) => Buffer.from(p.sha256, 'hex'))))
    .digest('hex');
  assert.equal(m.sha256, `${expected}-3`);
  assert.deepEqual(roundTrip(m), m);
  // each chunk keeps the place (key, nonce, shard key) of the write that sealed it
  assert.deepEqual(
    chunkOrigins(m).map((o) => [o.objectId.toString('hex'), o.chunk, o.data, o.parity]),
    [
      [a.objectId, 0, 4, 2],
      [a.objectId, 1, 4, 2],
      [a.objectId, 2, 4, 2],
      [c.objectId, 0, 3, 3],
      [c.objectId, 1, 3, 3],
    ],
  );
  // a format-1 manifest is what it always was
  assert.deepEqual(roundTrip(a), a);
  assert.deepEqual(
    chunkOrigins(a).map((o) => [o.objectId.toString('hex'), o.version, o.chunk]),
    [
      [a.objectId, 1, 0],
      [a.objectId, 1, 1],
      [a.objectId, 1, 2],
    ],
  );
});

test('refuses a spliced manifest that is not whole parts in order, or whose composite does not hold', () => {
  const m = spliceManifests(head, [plain([4096, 10]), plain([4096, 20])]);
  type J = Record<string, unknown> & {
    chunks: Record<string, unknown>[];
    sources: Record<string, unknown>[];
  };
  const at = (f: (j: J) => void) => (j: Record<string, unknown>) => f(j as J);
  refused(
    m,
    at((j) => {
      j.sha256 = `${'0'.repeat(64)}-2`;
    }),
    /composite/,
  );
  refused(
    m,
    at((j) => {
      j.chunks[0]!['chunk'] = 1;
    }),
    /must be chunk 0 of source 0/,
  );
  refused(
    m,
    at((j) => {
      j.chunks = [j.chunks[2]!, j.chunks[3]!, j.chunks[0]!, j.chunks[1]!];
    }),
    /hold 0 bytes/,
  );
  refused(
    m,
    at((j) => {
      j.chunks.pop();
    }),
    /hold 4096 bytes, not its 4116/,
  );
  refused(
    m,
    at((j) => {
      j.chunks[1]!['source'] = 2;
    }),
    /source/,
  );
  refused(
    m,
    at((j) => {
      (j.chunks[1]!['shards'] as unknown[]).pop();
    }),
    /6 shards/,
  );
  refused(
    m,
    at((j) => {
      j.sources[1] = j.sources[0]!;
    }),
    /one write twice/,
  );
  refused(
    m,
    at((j) => {
      j['versionSalt'] = '00'.repeat(16);
    }),
    /versionSalt/,
  );
  refused(
    m,
    at((j) => {
      j.sources = [];
    }),
    /non-empty/,
  );
  refused(
    m,
    at((j) => {
      j['format'] = 3;
    }),
    /format/,
  );
});

test('the same write cannot be spliced in twice: every chunk has one owner', () => {
  const a = plain([4096]);
  assert.throws(
    () => spliceManifests(head, [a, a]),
    (e: unknown) => e instanceof VdcError && e.code === 'INPUT_INVALID',
  );
  assert.throws(
    () => spliceManifests(head, []),
    (e: unknown) => e instanceof VdcError && e.code === 'INPUT_INVALID',
  );
});
