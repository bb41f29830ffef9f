import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { collectGarbage } from './garbage-collect.ts';
import { collect, fakeBackends } from './test-support.ts';
import { zstorKeysFromSeed } from './zstor-keys.ts';
import { ZstorStore } from './zstor-store.ts';

const ours = zstorKeysFromSeed(Buffer.alloc(64, 1));
const theirs = zstorKeysFromSeed(Buffer.alloc(64, 2));
const options = { data: 4, parity: 2, chunkSize: 4096, lock: { settleMs: 10 } };
const target = (backends: ReturnType<typeof fakeBackends>) => ({
  backends,
  keys: ours,
  data: 4,
  parity: 2,
  lock: { settleMs: 10 },
});

const snapshot = (backends: ReturnType<typeof fakeBackends>) =>
  backends.map((b) => new Map([...b.values].map(([k, v]) => [k, Buffer.from(v)])));

test('gc deletes the shards a failed write left, and nothing any metadata names', async () => {
  const backends = fakeBackends(6);
  const store = new ZstorStore(backends, ours, options);
  const other = new ZstorStore(backends, theirs, options); // another store in the same namespaces
  const kept = randomBytes(20_000);
  await store.put('kept', [kept]);
  await store.put('kept', [Buffer.from('v2')]);
  await other.put('theirs', [Buffer.from('not ours')]);
  const before = snapshot(backends);
  // a write that fails (one backend down, all six shards required) after its 3 chunks were
  // sent (they are in flight together): 3 × 5 orphans
  backends[5]!.down = true;
  await assert.rejects(store.put('broken', [randomBytes(10_000)]), (e: unknown) => {
    assert.ok(e instanceof VdcError);
    assert.equal(e.code, 'ZSTOR_BACKEND_UNAVAILABLE');
    return true;
  });
  backends[5]!.down = false;
  const orphanKeys = backends.flatMap((b, i) =>
    [...b.values.keys()].filter((k) => !before[i]!.has(k)),
  );
  assert.equal(orphanKeys.length, 15);

  const dry = await collectGarbage(target(backends), { dryRun: true });
  assert.equal(dry.orphans, 15);
  assert.equal(dry.deleted, 0);
  assert.equal(
    backends.flatMap((b) => [...b.values.keys()]).filter((k) => orphanKeys.includes(k)).length,
    15,
  );

  const report = await collectGarbage(target(backends));
  assert.equal(report.orphans, 15);
  assert.equal(report.deleted, 15);
  assert.ok(report.foreign > 0, "the other store's shards were seen and left alone");
  assert.deepEqual(report.skipped, []);
  // exactly the state before the failed write: every referenced shard, ours and theirs, kept
  assert.deepEqual(snapshot(backends), before);
  assert.deepEqual(await collect(store.get('kept', 1)), kept);
  assert.equal((await collect(other.get('theirs'))).toString(), 'not ours');
  assert.equal((await collectGarbage(target(backends))).orphans, 0);
});

test('gc deletes nothing when the metadata cannot be read whole', async () => {
  const backends = fakeBackends(6);
  const store = new ZstorStore(backends, ours, options);
  await store.put('a', [randomBytes(9000)]);
  backends[0]!.down = true;
  await assert.rejects(store.put('b', [randomBytes(9000)]));
  backends[0]!.down = false;
  // the manifest of 'a' loses 3 of its 6 shards: it cannot be read, so neither can what it names
  for (const b of backends.slice(0, 3)) b.down = true;
  const before = snapshot(backends);
  await assert.rejects(
    collectGarbage({ ...target(backends), lock: { settleMs: 10, waitMs: 300 } }),
  );
  for (const b of backends) b.down = false;
  assert.deepEqual(snapshot(backends), before);
});

test('a backend that cannot list its keys is reported, not guessed at', async () => {
  const backends = fakeBackends(6);
  await new ZstorStore(backends, ours, options).put('a', [Buffer.from('x')]);
  const blind = Object.assign(Object.create(Object.getPrototypeOf(backends[2]!)), backends[2]!);
  Object.defineProperty(blind, 'keys', { value: undefined });
  const report = await collectGarbage(target(backends.map((b, i) => (i === 2 ? blind : b))));
  assert.equal(report.skipped.length, 1);
  assert.match(report.skipped[0]!, /cannot list/);
});
