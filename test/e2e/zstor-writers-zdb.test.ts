import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { VdcError } from '../../src/core/errors.ts';
import {
  collectGarbage,
  ZdbShardBackend,
  ZstorStore,
  zstorKeysFromSeed,
} from '../../src/zstor/index.ts';
import { startZdbNodes } from '../../src/zstor/zdb-backend-test-kit.ts';

/*
 * Two writers (each with its own connections, as two machines would have) on one store
 * over six real zdb servers: the writer lock keeps every update; then orphan shards of a
 * failed write are found with zdb SCAN and deleted, and nothing else is.
 */

const seed = randomBytes(64);
const options = { data: 4, parity: 2, chunkSize: 64 * 1024, lock: { settleMs: 100 } };

async function read(store: ZstorStore, name: string, version?: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of store.get(name, version)) parts.push(p);
  return Buffer.concat(parts);
}

test('two writers over zdb lose no update; gc removes a failed write and nothing else', async (t) => {
  const nodes = await startZdbNodes(t, 6);
  const machine = () => {
    const backends = nodes.map((n) => new ZdbShardBackend(n.backend));
    t.after(() => {
      for (const b of backends) b.close();
    });
    return { backends, store: new ZstorStore(backends, zstorKeysFromSeed(seed), options) };
  };
  const a = machine();
  const b = machine();
  const bodies = new Map<string, Buffer>();
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < 3; i++)
    for (const [who, m] of [
      ['a', a],
      ['b', b],
    ] as const) {
      const name = `${who}/${i}`;
      const body = randomBytes(100_000 + i);
      bodies.set(name, body);
      writes.push(m.store.put(name, [body]));
    }
  writes.push(a.store.put('shared', [Buffer.from('from a')]));
  writes.push(b.store.put('shared', [Buffer.from('from b')]));
  await Promise.all(writes);
  const list = await b.store.list();
  assert.deepEqual(
    list.map((o) => o.name),
    ['a/0', 'a/1', 'a/2', 'b/0', 'b/1', 'b/2', 'shared'],
  );
  for (const [name, body] of bodies) assert.deepEqual(await read(a.store, name), body);
  const shared = [await read(a.store, 'shared', 1), await read(a.store, 'shared', 2)];
  assert.deepEqual(shared.map(String).sort(), ['from a', 'from b']);

  // a write that fails part-way (one zdb down, all six shards required) leaves orphans
  const target = {
    backends: a.backends,
    keys: { meta: zstorKeysFromSeed(seed).meta },
    data: 4,
    parity: 2,
    lock: options.lock,
  };
  assert.equal((await collectGarbage(target)).orphans, 0);
  await nodes[3]!.stop();
  await assert.rejects(a.store.put('broken', [randomBytes(300_000)]), (e: unknown) => {
    assert.ok(e instanceof VdcError);
    assert.equal(e.code, 'ZSTOR_BACKEND_UNAVAILABLE');
    return true;
  });
  await nodes[3]!.start();
  const found = await collectGarbage({ ...target, backends: b.backends }, { dryRun: true });
  assert.ok(found.orphans > 0);
  const gc = await collectGarbage({ ...target, backends: b.backends });
  assert.equal(gc.deleted, found.orphans);
  assert.deepEqual(gc.skipped, []);
  assert.equal((await collectGarbage(target)).orphans, 0);
  // every object still reads back, each shard intact
  for (const [name, body] of bodies) assert.deepEqual(await read(b.store, name), body);
  assert.equal((await read(b.store, 'shared')).length, 6);
});
