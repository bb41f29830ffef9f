import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { checkStore, type MaintenanceTarget } from './check.ts';
import type { FakeShardBackend } from './fake-shard-backend.ts';
import { collectGarbage } from './garbage-collect.ts';
import { chunkOrigins, compositeSha256, type ObjectManifest } from './object-manifest.ts';
import { RecordingBackend } from './recording-backend.ts';
import { isHealthy, repairStore } from './repair.ts';
import { decodeShard, encodeShard } from './shard-format.ts';
import { collect, fakeBackends, sampleBytes, TEST_KEYS } from './test-support.ts';
import { lockKey } from './writer-lock.ts';
import { rootKey, shardKey, shardNameKey } from './zstor-keys.ts';
import { ZstorStore } from './zstor-store.ts';

/*
 * Splicing (format-2 manifests): an object made of other objects' chunks by reference, as
 * a completed S3 multipart upload is. Nothing is copied; check, repair, gc and deletion
 * follow the chunks to the shards their parts wrote.
 */

const CHUNK = 16 * 1024;
const OPTS = { data: 4, parity: 2, chunkSize: CHUNK, minShards: 5, lock: { settleMs: 10 } };
const NAME_KEY = shardNameKey(TEST_KEYS.meta);
const ROOT_KEYS = new Set(
  [rootKey(NAME_KEY, 0), rootKey(NAME_KEY, 1)].map((k) => k.toString('hex')),
);
const LOCK_KEY = lockKey(NAME_KEY).toString('hex');
const NAMES = ['part/1', 'part/2', 'part/3', 'part/4'];

/** Meta root only, as check, repair and gc get it. */
const metaOnly = (backends: readonly RecordingBackend[]): MaintenanceTarget => ({
  backends,
  keys: { meta: TEST_KEYS.meta },
  ...OPTS,
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Parts of 40 000 bytes (3 chunks), 0, 2 whole chunks and 5 000 bytes, stored on 7 backends. */
async function setup() {
  const fakes = fakeBackends(7);
  const backends = fakes.map((b) => new RecordingBackend(b));
  const store = new ZstorStore(backends, TEST_KEYS, OPTS);
  await store.put('keep', [sampleBytes(30_000)]);
  const baseline = storedKeys(fakes);
  const parts = [sampleBytes(40_000), Buffer.alloc(0), randomBytes(2 * CHUNK), sampleBytes(5_000)];
  for (const [i, p] of parts.entries()) await store.put(NAMES[i]!, [p]);
  return { fakes, backends, store, parts, whole: Buffer.concat(parts), baseline };
}

/** backend/key of every value but the root slots and the lock record. */
function storedKeys(fakes: readonly FakeShardBackend[]): Set<string> {
  return new Set(
    fakes.flatMap((b) =>
      [...b.values.keys()]
        .filter((k) => !ROOT_KEYS.has(k) && k !== LOCK_KEY)
        .map((k) => `${b.id}/${k}`),
    ),
  );
}

const snapshot = (fakes: readonly FakeShardBackend[]) =>
  fakes.map((b) => new Map([...b.values].map(([k, v]) => [k, Buffer.from(v)])));

/** Backend key of shard `index` of chunk `c` (its position in m). */
function keyOf(m: ObjectManifest, c: number, index: number): string {
  const o = chunkOrigins(m)[c]!;
  return shardKey(NAME_KEY, o.objectId, o.version, o.chunk, index).toString('hex');
}

function chunkKeys(m: ObjectManifest): Set<string> {
  const out = new Set<string>();
  for (const [c, chunk] of m.chunks.entries())
    for (let i = 0; i < chunk.shards.length; i++) out.add(keyOf(m, c, i));
  return out;
}

function isCode(code: string) {
  return (e: unknown) => {
    assert.ok(e instanceof VdcError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  };
}

describe('splice', () => {
  test('joins parts by reference: no chunk shard is written, whole and ranged reads across part boundaries', async () => {
    const { fakes, backends, store, parts, whole } = await setup();
    const before = snapshot(fakes);
    for (const b of backends) b.putKeys.length = 0;
    const m = await store.splice('joined', NAMES);
    assert.equal(m.format, 2);
    assert.equal(m.size, whole.length);
    assert.equal(m.chunks.length, 3 + 0 + 2 + 1);
    // the whole-object fact is the composite of the parts' SHA-256, known without reading
    assert.equal(m.sha256, compositeSha256(parts.map((p) => ({ sha256: sha(p) }))));
    assert.match(m.sha256, /^[0-9a-f]{64}-4$/);
    const owned = chunkKeys(m);
    assert.equal(owned.size, 6 * 6);
    const written = backends.flatMap((b) => b.putKeys);
    assert.deepEqual(
      written.filter((k) => owned.has(k)),
      [],
      'no chunk shard was written',
    );
    // what was written: the manifest's 6 shards, the root's 6, the lock record's claims
    assert.ok(written.length <= 6 + 6 + 2 * 7, `${written.length} puts`);
    for (const [i, b] of fakes.entries())
      for (const [k, v] of b.values) if (owned.has(k)) assert.deepEqual(v, before[i]!.get(k));

    assert.deepEqual(await collect(store.get('joined')), whole);
    // chunk boundaries at 16384 and 32768, part boundaries at 40000 (twice: the empty
    // part) and 72768, a chunk boundary at 56384
    for (const cut of [16_384, 32_768, 40_000, 56_384, 72_768])
      for (const [offset, length] of [
        [cut - 7, 14],
        [cut - 1, 1],
        [cut, 1],
        [0, cut + 3],
        [Math.max(0, cut - 20_000), 40_000],
      ] as const) {
        const got = await collect(store.get('joined', undefined, undefined, { offset, length }));
        assert.deepEqual(got, whole.subarray(offset, offset + length), `${offset}+${length}`);
      }
    assert.deepEqual(
      (await store.list()).map((o) => [o.name, o.size]),
      [
        ['joined', whole.length],
        ['keep', 30_000],
      ],
    );
    await assert.rejects(collect(store.get('part/1')), isCode('ZSTOR_OBJECT_NOT_FOUND'));
    const report = await checkStore(metaOnly(backends));
    assert.ok(isHealthy(report), JSON.stringify(report.findings));
    assert.equal(report.chunks, 6 + 2);
    // the parts' manifests went with the splice: nothing is an orphan
    const gc = await collectGarbage(metaOnly(backends));
    assert.equal(gc.orphans, 0);
    assert.deepEqual(await collect(store.get('joined')), whole);
  });

  test("check finds missing, corrupt and stale shards of spliced chunks by their parts' headers; repair rebuilds them with the meta root alone", async () => {
    const { fakes, backends, store, whole } = await setup();
    const m = await store.splice('joined', NAMES);
    const holder = (c: number, i: number) =>
      fakes.find((b) => b.id === m.chunks[c]!.shards[i]!.backend)!;
    const before = snapshot(fakes);
    // chunk 3 is chunk 0 of part/3, chunk 4 its chunk 1, chunk 5 part/4's only chunk
    holder(3, 1).values.delete(keyOf(m, 3, 1));
    holder(4, 2).values.get(keyOf(m, 4, 2))![100]! ^= 1;
    const stale = holder(5, 0).values.get(keyOf(m, 5, 0))!;
    const old = decodeShard(stale, 'test');
    const other = encodeShard({ ...old }, Buffer.alloc(old.payload.length, 9));
    holder(5, 0).values.set(keyOf(m, 5, 0), Buffer.concat([other.header, other.payload]));

    const report = await checkStore(metaOnly(backends));
    assert.deepEqual(
      report.findings
        .map((f) => [f.kind, f.object, f.version, f.chunk, f.index, f.problem])
        .sort((a, b) => Number(a[3]) - Number(b[3])),
      [
        ['chunk', 'joined', 1, 3, 1, 'missing'],
        ['chunk', 'joined', 1, 4, 2, 'corrupt'],
        ['chunk', 'joined', 1, 5, 0, 'stale'],
      ],
    );
    const repaired = await repairStore(metaOnly(backends));
    assert.equal(repaired.found, 3);
    assert.equal(repaired.rewritten, 3);
    assert.equal(repaired.moved, 0);
    assert.deepEqual(repaired.failed, []);
    assert.ok(isHealthy(await checkStore(metaOnly(backends))));
    for (const [c, i] of [
      [3, 1],
      [4, 2],
      [5, 0],
    ] as const) {
      const at = fakes.indexOf(holder(c, i));
      assert.deepEqual(holder(c, i).values.get(keyOf(m, c, i)), before[at]!.get(keyOf(m, c, i)));
    }
    fakes[0]!.down = true;
    fakes[1]!.down = true;
    assert.deepEqual(await collect(store.get('joined')), whole);
  });

  test('a shard on a dead backend is moved by repair and the manifest stays format 2', async () => {
    const { fakes, backends, store, whole } = await setup();
    const m = await store.splice('joined', NAMES);
    const dead = fakes.find((b) => b.id === m.chunks[3]!.shards[0]!.backend)!;
    dead.down = true;
    const r = await repairStore(metaOnly(backends));
    assert.ok(r.moved >= 1, `moved ${r.moved}`);
    const after = await store.manifest('joined');
    assert.equal(after.format, 2);
    assert.notEqual(after.chunks[3]!.shards[0]!.backend, dead.id);
    assert.equal(after.sha256, m.sha256);
    fakes.find((b) => b !== dead && b.id === after.chunks[3]!.shards[1]!.backend)!.down = true;
    assert.deepEqual(await collect(store.get('joined')), whole);
  });

  test('removing or overwriting a spliced object deletes every shard it owns; gc finds nothing left', async () => {
    const { fakes, backends, store, baseline } = await setup();
    const m = await store.splice('joined', NAMES);
    const owned = chunkKeys(m);
    assert.equal(
      [...storedKeys(fakes)].filter((k) => owned.has(k.split('/')[1]!)).length,
      6 * m.chunks.length,
    );
    await store.remove('joined');
    assert.deepEqual(storedKeys(fakes), baseline, 'every part chunk and manifest shard is gone');
    assert.equal((await collectGarbage(metaOnly(backends))).orphans, 0);

    // overwritten, keeping one version: the spliced version goes with all it owns
    for (const n of NAMES) await store.put(n, [sampleBytes(20_000)]);
    await store.splice('again', NAMES);
    await store.put('again', [Buffer.from('small')], { keepVersions: 1 });
    // what is left: 'keep', and the new version's chunk (6 shards) and manifest (6)
    assert.equal(storedKeys(fakes).size, baseline.size + 12);
    assert.equal((await collectGarbage(metaOnly(backends))).orphans, 0);
    assert.equal((await collect(store.get('again'))).toString(), 'small');
  });

  test("a backend that missed rm keeps the parts' shards as orphans: gc proves them ours and deletes them", async () => {
    const { fakes, backends, store, baseline } = await setup();
    const m = await store.splice('joined', NAMES);
    // backend b2 fails every delete (not the lock's) while the object is removed
    backends[2]!.failDelete = (k) => k.toString('hex') !== LOCK_KEY;
    await store.remove('joined');
    backends[2]!.failDelete = undefined;
    const left = [...storedKeys(fakes)].filter((k) => !baseline.has(k));
    const owned = chunkKeys(m);
    assert.ok(left.length > 0 && left.every((k) => k.startsWith('b2/')));
    assert.ok(
      left.some((k) => owned.has(k.slice(3))),
      "some are the parts' chunk shards",
    );
    const gc = await collectGarbage(metaOnly(backends));
    assert.equal(gc.orphans, left.length);
    assert.equal(gc.deleted, left.length);
    assert.deepEqual(storedKeys(fakes), baseline);
  });

  test('splicing a spliced object flattens it: the manifest names the writes that sealed each chunk', async () => {
    const { store, parts } = await setup();
    await store.splice('ab', ['part/1', 'part/2', 'part/3']);
    const m = await store.splice('abc', ['ab', 'part/4']);
    assert.equal(m.format, 2);
    assert.equal(m.sources.length, 4);
    assert.equal(m.sha256, compositeSha256(parts.map((p) => ({ sha256: sha(p) }))));
    assert.deepEqual(await collect(store.get('abc')), Buffer.concat(parts));
    assert.deepEqual(
      (await store.list()).map((o) => o.name),
      ['abc', 'keep'],
    );
  });

  test('refuses bad requests and changes nothing', async () => {
    const { fakes, store } = await setup();
    const before = storedKeys(fakes);
    await assert.rejects(
      store.splice('joined', ['part/1', 'nope']),
      isCode('ZSTOR_OBJECT_NOT_FOUND'),
    );
    await assert.rejects(
      store.splice('joined', ['part/1'], { remove: ['nope'] }),
      isCode('ZSTOR_OBJECT_NOT_FOUND'),
    );
    await assert.rejects(store.splice('part/1', ['part/1', 'part/2']), isCode('INPUT_INVALID'));
    await assert.rejects(store.splice('joined', ['part/1', 'part/1']), isCode('INPUT_INVALID'));
    await assert.rejects(store.splice('joined', []), isCode('INPUT_INVALID'));
    assert.deepEqual(storedKeys(fakes), before);
    assert.deepEqual(
      (await store.list()).map((o) => o.name),
      ['keep', ...NAMES],
    );
  });
});

describe('splice: crash points', () => {
  test('dying before the root save leaves the parts whole and only orphans gc collects; it can be retried', async () => {
    const { fakes, backends, store, parts, whole } = await setup();
    const before = storedKeys(fakes);
    // the root save fails: 4 of 7 backends refuse root shards, so fewer than `data` land
    for (const b of backends.slice(0, 4)) b.failPut = (k) => ROOT_KEYS.has(k.toString('hex'));
    await assert.rejects(store.splice('joined', NAMES), isCode('ZSTOR_BACKEND_UNAVAILABLE'));
    for (const b of backends) b.failPut = undefined;
    assert.deepEqual(
      (await store.list()).map((o) => o.name),
      ['keep', ...NAMES],
    );
    for (const [i, p] of parts.entries()) assert.deepEqual(await collect(store.get(NAMES[i]!)), p);
    assert.ok(isHealthy(await checkStore(metaOnly(backends))));
    // the spliced manifest that never made it into a root: its 6 shards, nothing else
    const gc = await collectGarbage(metaOnly(backends));
    assert.equal(gc.orphans, 6);
    assert.equal(gc.deleted, 6);
    assert.deepEqual(storedKeys(fakes), before);
    await store.splice('joined', NAMES);
    assert.deepEqual(await collect(store.get('joined')), whole);
  });

  test("dying after the root save, before the parts' manifests are deleted, leaves only those for gc", async () => {
    const { fakes, backends, store, whole } = await setup();
    // every delete fails (the lock record's aside, so the next writer need not wait it out)
    for (const b of backends) b.failDelete = (k) => k.toString('hex') !== LOCK_KEY;
    const m = await store.splice('joined', NAMES);
    for (const b of backends) b.failDelete = undefined;
    assert.deepEqual(await collect(store.get('joined')), whole);
    assert.ok(isHealthy(await checkStore(metaOnly(backends))));
    const owned = chunkKeys(m);
    const before = snapshot(fakes);
    // the four parts' manifest blobs, 6 shards each; never a chunk shard the object owns
    const gc = await collectGarbage(metaOnly(backends));
    assert.equal(gc.orphans, 4 * 6);
    assert.equal(gc.deleted, 4 * 6);
    for (const [i, b] of fakes.entries())
      for (const k of before[i]!.keys()) if (owned.has(k)) assert.ok(b.values.has(k));
    assert.deepEqual(await collect(store.get('joined')), whole);
    assert.ok(isHealthy(await checkStore(metaOnly(backends))));
    assert.equal((await collectGarbage(metaOnly(backends))).orphans, 0);
  });
});
