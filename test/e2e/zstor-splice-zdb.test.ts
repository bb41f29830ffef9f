import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  checkStore,
  collectGarbage,
  isHealthy,
  type MaintenanceTarget,
  repairStore,
  ZdbShardBackend,
  ZstorStore,
  zstorKeysFromSeed,
} from '../../src/zstor/index.ts';
import { chunkOrigins, type ObjectManifest } from '../../src/zstor/object-manifest.ts';
import { RecordingBackend } from '../../src/zstor/recording-backend.ts';
import { sampleBytes } from '../../src/zstor/test-support.ts';
import { lockKey } from '../../src/zstor/writer-lock.ts';
import { startZdbNodes } from '../../src/zstor/zdb-backend-test-kit.ts';
import { rootKey, shardKey, shardNameKey } from '../../src/zstor/zstor-keys.ts';

/*
 * Splicing over six real zdb servers (4+2): the spliced object is made without a data
 * shard written, reads back whole and across part boundaries, checks clean; a shard lost
 * from a part's chunk is found and rebuilt by repair with the meta root alone; removing
 * the object leaves the namespaces (listed with SCAN) as they were before the parts.
 */

const CHUNK = 64 * 1024;

async function read(store: ZstorStore, name: string, range?: { offset: number; length: number }) {
  const parts: Buffer[] = [];
  for await (const p of store.get(name, undefined, undefined, range)) parts.push(p);
  return Buffer.concat(parts);
}

test('splice over zdb: no copy, ranged reads, check, repair of a part chunk, rm frees every shard', async (t) => {
  const nodes = await startZdbNodes(t, 6);
  const zdbs = nodes.map((n) => new ZdbShardBackend(n.backend));
  t.after(() => {
    for (const b of zdbs) b.close();
  });
  const backends = zdbs.map((b) => new RecordingBackend(b));
  const keys = zstorKeysFromSeed(randomBytes(64));
  const lock = { settleMs: 100 };
  const store = new ZstorStore(backends, keys, { data: 4, parity: 2, chunkSize: CHUNK, lock });
  const meta: MaintenanceTarget = { backends, keys: { meta: keys.meta }, data: 4, parity: 2, lock };
  const nameKey = shardNameKey(keys.meta);
  const fixed = new Set(
    [rootKey(nameKey, 0), rootKey(nameKey, 1), lockKey(nameKey)].map((k) => k.toString('hex')),
  );
  /** backend/key of every value (zdb SCAN) but the root slots and the lock record. */
  const scanned = async () => {
    const out = new Set<string>();
    for (const b of zdbs)
      for await (const k of b.keys()) {
        const hex = Buffer.from(k).toString('hex');
        if (!fixed.has(hex)) out.add(`${b.id}/${hex}`);
      }
    return out;
  };
  const keyOf = (m: ObjectManifest, c: number, i: number) => {
    const o = chunkOrigins(m)[c]!;
    return shardKey(nameKey, o.objectId, o.version, o.chunk, i);
  };

  await store.put('keep', [sampleBytes(50_000)]);
  const baseline = await scanned();
  const parts = [randomBytes(200_000), sampleBytes(2 * CHUNK), randomBytes(9_000)];
  for (const [i, p] of parts.entries()) await store.put(`part/${i}`, [p]);
  for (const b of backends) b.putKeys.length = 0;
  const m = await store.splice(
    'joined',
    parts.map((_, i) => `part/${i}`),
  );
  assert.equal(m.format, 2);
  assert.equal(m.chunks.length, 4 + 2 + 1);
  const owned = new Set(
    m.chunks.flatMap((_, c) => Array.from({ length: 6 }, (_, i) => keyOf(m, c, i).toString('hex'))),
  );
  const written = backends.flatMap((b) => b.putKeys);
  assert.deepEqual(
    written.filter((k) => owned.has(k)),
    [],
    'no chunk shard written',
  );

  const whole = Buffer.concat(parts);
  assert.deepEqual(await read(store, 'joined'), whole);
  for (const cut of [CHUNK, 200_000, 200_000 + CHUNK, 200_000 + 2 * CHUNK])
    for (const [offset, length] of [
      [cut - 5, 10],
      [cut, 1],
      [Math.max(0, cut - 70_000), 140_000],
    ] as const)
      assert.deepEqual(
        await read(store, 'joined', { offset, length }),
        whole.subarray(offset, offset + length),
        `${offset}+${length}`,
      );
  assert.ok(isHealthy(await checkStore(meta)));

  // chunk 5 of the object is chunk 1 of part/1: lose one of its shards
  const rec = m.chunks[5]!.shards[2]!;
  const holder = zdbs.find((b) => b.id === rec.backend)!;
  assert.equal(await holder.delete(keyOf(m, 5, 2)), true);
  const report = await checkStore(meta);
  assert.deepEqual(
    report.findings.map((f) => [f.object, f.chunk, f.index, f.backend, f.problem]),
    [['joined', 5, 2, holder.id, 'missing']],
  );
  const repaired = await repairStore(meta);
  assert.equal(repaired.rewritten, 1);
  assert.deepEqual(repaired.failed, []);
  assert.ok(isHealthy(await checkStore(meta)));
  assert.equal(await holder.exists(keyOf(m, 5, 2)), true);
  assert.deepEqual(await read(store, 'joined'), whole);

  // removing the object deletes every shard its parts wrote; gc finds nothing left over
  const before = await scanned();
  assert.ok(before.size >= baseline.size + owned.size);
  await store.remove('joined');
  assert.deepEqual(await scanned(), baseline);
  assert.equal((await collectGarbage(meta)).orphans, 0);
  assert.deepEqual(
    (await store.list()).map((o) => o.name),
    ['keep'],
  );
});
