import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { VdcError } from '../../src/core/errors.ts';
import {
  decodeShard,
  FakeShardBackend,
  type ShardBackend,
  ZstorStore,
  zstorKeysFromSeed,
} from '../../src/zstor/index.ts';
import { encodeShard } from '../../src/zstor/shard-format.ts';
import { rootKey, shardNameKey } from '../../src/zstor/zstor-keys.ts';

/*
 * P5, with the pipeline over in-memory backends (the zdb-backed version of these tests,
 * which reads zdb's data files on disk, comes with the zdb backend): what each backend
 * holds reveals neither the data nor the object names, no backend holds a complete copy,
 * and forged or swapped shards and metadata are refused rather than believed.
 */

const seed = Buffer.alloc(64, 0x42);
const options = { data: 4, parity: 2, chunkSize: 64 * 1024 };
const SECRET = 'the launch code is 0000 and the plan is in the vault; ';
const NAME = 'board-minutes/2026-11-confidential.txt';

function backends(n = 6): FakeShardBackend[] {
  return Array.from({ length: n }, (_, i) => new FakeShardBackend(`zdb${i}`, `node${i}`));
}

async function collect(s: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of s) parts.push(p);
  return Buffer.concat(parts);
}

function snapshot(bs: FakeShardBackend[]): string {
  const h = createHash('sha256');
  for (const b of bs) for (const [k, v] of [...b.values.entries()].sort()) h.update(k).update(v);
  return h.digest('hex');
}

test('P5: no backend holds the plaintext, the names, or a complete copy', async () => {
  const bs = backends();
  const store = new ZstorStore(bs, zstorKeysFromSeed(seed), options);
  const plain = Buffer.from(SECRET.repeat(20_000)); // compressible: zstd runs before encryption
  const random = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251));
  await store.put(NAME, [plain]);
  await store.put('second-object.bin', [random]);
  const needles = [
    Buffer.from('launch code'),
    Buffer.from(SECRET.slice(0, 16)),
    random.subarray(1000, 1016),
    Buffer.from(NAME),
    Buffer.from('board-minutes'),
    Buffer.from('second-object'),
    Buffer.from(NAME, 'utf16le'),
    createHash('sha256').update(NAME).digest(),
  ];
  for (const b of bs) {
    const everything = b.allBytes();
    for (const needle of needles)
      assert.equal(everything.indexOf(needle), -1, `${b.id} holds ${needle}`);
    for (const key of b.values.keys())
      assert.equal(key.length, 64, 'keys are 32-byte keyed hashes');
  }
  // A backend holds at most one shard of any chunk: less than `data` of it, so no copy.
  for (const b of bs) {
    const seen = new Set<string>();
    for (const v of b.values.values()) {
      const s = decodeShard(v, b.id);
      const chunk = `${s.objectId.toString('hex')}/${s.version}/${s.chunk}`;
      assert.ok(!seen.has(chunk), `${b.id} holds two shards of ${chunk}`);
      seen.add(chunk);
    }
  }
  assert.deepEqual(await collect(store.get(NAME)), plain);
});

test('P5: shard keys do not reveal names, sizes or order: same object twice gives unrelated keys', async () => {
  const a = backends();
  const b = backends();
  const bytes = Buffer.alloc(200_000, 1);
  await new ZstorStore(a, zstorKeysFromSeed(seed), options).put('same', [bytes]);
  await new ZstorStore(b, zstorKeysFromSeed(seed), options).put('same', [bytes]);
  const keysA = new Set(a.flatMap((x) => [...x.values.keys()]));
  const keysB = new Set(b.flatMap((x) => [...x.values.keys()]));
  // Only the two root slots are shared (derived from the seed, as they must be to be found).
  assert.ok([...keysB].filter((k) => keysA.has(k)).length <= 2);
});

test('P5: backend operators who forge a newer root are not believed, and nothing changes', async () => {
  const bs = backends();
  const keys = zstorKeysFromSeed(seed);
  const store = new ZstorStore(bs, keys, options);
  await store.put('real', [Buffer.from('real data')]);
  // The current root (generation 1) sits in slot 1. Four colluding operators copy its
  // header fields (they can read them) and write well-formed shards of a "generation 99"
  // with their own payload into slot 0: each shard's own SHA-256 checks out, and there are
  // `data` of them, so the root can be rebuilt; only its encryption can tell it is forged.
  const nameKey = shardNameKey(keys.meta);
  const slot0 = rootKey(nameKey, 0);
  const stored = bs[0]!.values.get(rootKey(nameKey, 1).toString('hex'));
  assert.ok(stored !== undefined && !bs[0]!.values.has(slot0.toString('hex')));
  const current = decodeShard(stored, 'zdb0');
  assert.equal(current.version, 1);
  for (const [i, b] of bs.slice(0, 4).entries()) {
    const forged = encodeShard(
      { ...current, version: 99, index: i },
      Buffer.alloc(current.payload.length, 0x66),
    );
    b.values.set(slot0.toString('hex'), Buffer.concat([forged.header, forged.payload]));
  }
  const before = snapshot(bs);
  const fresh = new ZstorStore(bs, keys, options);
  assert.deepEqual(
    (await fresh.list()).map((o) => o.name),
    ['real'],
  );
  assert.deepEqual(await collect(fresh.get('real')), Buffer.from('real data'));
  assert.equal(snapshot(bs), before, 'reading changed nothing');
});

test('P5: more than parity backends returning wrong shards is refused with the places named; nothing changes', async () => {
  const bs = backends();
  const store = new ZstorStore(bs, zstorKeysFromSeed(seed), options);
  const data = Buffer.from(SECRET.repeat(5000));
  const manifest = await store.put('doc', [data]);
  // Three malicious backends serve a valid shard of another chunk under every key of chunk 0.
  const bad: ShardBackend[] = [];
  for (const b of bs) {
    const entries = [...b.values.entries()];
    const chunk1 = entries.find(
      ([, v]) =>
        decodeShard(v, b.id).chunk === 1 &&
        decodeShard(v, b.id).objectId.toString('hex') === manifest.objectId,
    );
    const chunk0 = entries.filter(
      ([, v]) =>
        decodeShard(v, b.id).chunk === 0 &&
        decodeShard(v, b.id).objectId.toString('hex') === manifest.objectId,
    );
    if (chunk1 !== undefined && chunk0.length > 0 && bad.length < 3) {
      for (const [k] of chunk0) b.values.set(k, Buffer.from(chunk1[1]));
      bad.push(b);
    }
  }
  assert.equal(bad.length, 3);
  const before = snapshot(bs);
  await assert.rejects(collect(store.get('doc')), (e) => {
    assert.ok(e instanceof VdcError);
    assert.equal(e.code, 'ZSTOR_SHARDS_MISSING');
    for (const b of bad)
      assert.match(e.message, new RegExp(`on ${b.id} .*not the shard the metadata recorded`));
    return true;
  });
  assert.equal(snapshot(bs), before);
});

test('P5: another seed cannot read an object even holding every shard and the manifest', async () => {
  const bs = backends();
  const store = new ZstorStore(bs, zstorKeysFromSeed(seed), options);
  const manifest = await store.put('doc', [Buffer.from(SECRET)]);
  const before = snapshot(bs);
  const thief = new ZstorStore(
    bs,
    { ...zstorKeysFromSeed(Buffer.alloc(64, 9)), meta: zstorKeysFromSeed(seed).meta },
    options,
  );
  // With the meta key (what repair holds) the thief finds the manifest but not the data.
  assert.equal((await thief.manifest('doc')).sha256, manifest.sha256);
  await assert.rejects(
    collect(thief.get('doc')),
    (e) => e instanceof VdcError && e.code === 'ZSTOR_CHUNK_UNDECRYPTABLE',
  );
  assert.equal(snapshot(bs), before);
});

test("P5: a spliced object stays under its parts' keys: the meta key alone reads none of it", async () => {
  const bs = backends();
  const store = new ZstorStore(bs, zstorKeysFromSeed(seed), options);
  await store.put('part/1', [Buffer.from(SECRET.repeat(3000))]);
  await store.put('part/2', [Buffer.from(SECRET)]);
  const spliced = await store.splice('doc', ['part/1', 'part/2']);
  assert.equal(spliced.format, 2);
  const before = snapshot(bs);
  const thief = new ZstorStore(
    bs,
    { ...zstorKeysFromSeed(Buffer.alloc(64, 9)), meta: zstorKeysFromSeed(seed).meta },
    options,
  );
  // repair's key finds the manifest (and the parts' digests) but decrypts no chunk
  assert.equal((await thief.manifest('doc')).sha256, spliced.sha256);
  await assert.rejects(
    collect(thief.get('doc')),
    (e) => e instanceof VdcError && e.code === 'ZSTOR_CHUNK_UNDECRYPTABLE',
  );
  for (const b of bs) assert.equal(b.allBytes().includes('launch code'), false, b.id);
  assert.equal(snapshot(bs), before);
  assert.equal((await collect(store.get('doc'))).toString(), SECRET.repeat(3001));
});

test('P5: up to parity operators serving forged shards of the current root cannot hide it', async () => {
  const bs = backends();
  const keys = zstorKeysFromSeed(seed);
  const store = new ZstorStore(bs, keys, options);
  await store.put('real', [Buffer.from('real data')]);
  const key = rootKey(shardNameKey(keys.meta), 1).toString('hex');
  // Two operators replace their root shard by one with the same header fields but another
  // payload (its SHA-256 recomputed, so it looks well-formed); one of them also claims other
  // coding parameters. Neither is told apart by its hash: only decryption can.
  for (const [i, b] of bs.slice(0, 2).entries()) {
    const genuine = decodeShard(b.values.get(key)!, b.id);
    const forged = encodeShard(
      { ...genuine, data: i === 0 ? genuine.data : 3 },
      Buffer.alloc(genuine.payload.length, 0x55),
    );
    b.values.set(key, Buffer.concat([forged.header, forged.payload]));
  }
  const before = snapshot(bs);
  const fresh = new ZstorStore(bs, keys, options);
  assert.deepEqual(
    (await fresh.list()).map((o) => o.name),
    ['real'],
  );
  assert.deepEqual(await collect(fresh.get('real')), Buffer.from('real data'));
  assert.equal(snapshot(bs), before);
});
