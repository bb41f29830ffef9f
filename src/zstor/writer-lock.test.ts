import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { collect, fakeBackends } from './test-support.ts';
import { WriterLock } from './writer-lock.ts';
import { shardNameKey, zstorKeysFromSeed } from './zstor-keys.ts';
import { ZstorStore } from './zstor-store.ts';

const keys = zstorKeysFromSeed(Buffer.alloc(64, 3));
const nameKey = shardNameKey(keys.meta);
const fast = { settleMs: 20, ttlMs: 3_000 };
const lockKeyHex = createHmac('sha256', nameKey)
  .update('vdc/zstor/writer-lock/v1')
  .digest()
  .toString('hex');

function isCode(code: string) {
  return (e: unknown) => {
    assert.ok(e instanceof VdcError, String(e));
    assert.equal(e.code, code);
    return true;
  };
}

test('two writers on one store never lose an update', async () => {
  const backends = fakeBackends(6);
  const options = { data: 4, parity: 2, chunkSize: 4096, lock: fast };
  const a = new ZstorStore(backends, keys, options);
  const b = new ZstorStore(backends, zstorKeysFromSeed(Buffer.alloc(64, 3)), options);
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < 4; i++) {
    writes.push(a.put(`a/${i}`, [Buffer.from(`from a ${i}`)]));
    writes.push(b.put(`b/${i}`, [Buffer.from(`from b ${i}`)]));
    writes.push((i % 2 === 0 ? a : b).put('shared', [Buffer.from(`shared ${i}`)]));
  }
  await Promise.all(writes);
  const list = await a.list();
  assert.deepEqual(
    list.map((o) => o.name),
    ['a/0', 'a/1', 'a/2', 'a/3', 'b/0', 'b/1', 'b/2', 'b/3', 'shared'],
  );
  // every put of the shared name became its own version, none overwrote another's shards
  const shared = list.find((o) => o.name === 'shared')!;
  assert.equal(shared.versions, 4);
  const bodies = new Set<string>();
  for (let v = 1; v <= 4; v++) bodies.add((await collect(b.get('shared', v))).toString());
  assert.deepEqual([...bodies].sort(), ['shared 0', 'shared 1', 'shared 2', 'shared 3']);
  assert.equal((await collect(b.get('a/3'))).toString(), 'from a 3');
  // and the lock was released: no record is left behind
  assert.ok(backends.every((x) => !x.values.has(lockKeyHex)));
});

test('the lock is held by one writer at a time', async () => {
  const backends = fakeBackends(5);
  let inside = 0;
  let most = 0;
  let entries = 0;
  const worker = async () => {
    const lock = new WriterLock(backends, nameKey, fast);
    for (let i = 0; i < 3; i++) {
      const held = await lock.acquire();
      inside++;
      entries++;
      most = Math.max(most, inside);
      await new Promise((r) => setTimeout(r, 5));
      inside--;
      await held.release();
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  assert.equal(entries, 9);
  assert.equal(most, 1);
});

test("a crashed writer's claim frees itself after ttl; a busy lock times out with ZSTOR_LOCKED", async () => {
  const backends = fakeBackends(3);
  const stale = randomBytes(24);
  for (const b of backends) b.values.set(lockKeyHex, stale);
  const impatient = new WriterLock(backends, nameKey, { settleMs: 20, ttlMs: 60_000, waitMs: 200 });
  await assert.rejects(impatient.acquire(), isCode('ZSTOR_LOCKED'));
  assert.ok(
    backends.every((b) => b.values.get(lockKeyHex)?.equals(stale)),
    'nothing changed',
  );
  const patient = new WriterLock(backends, nameKey, { settleMs: 20, ttlMs: 300 });
  const held = await patient.acquire();
  assert.ok(backends.every((b) => !b.values.get(lockKeyHex)?.equals(stale)));
  await held.release();
});

test('a holder whose claim was taken over gets ZSTOR_LOCK_LOST before committing', async () => {
  const backends = fakeBackends(6);
  const store = new ZstorStore(backends, keys, { data: 4, parity: 2, lock: fast });
  await store.put('kept', [Buffer.from('v1')]);
  const held = await new WriterLock(backends, nameKey, fast).acquire();
  await held.verify();
  const usurper = randomBytes(24);
  for (const b of backends.slice(0, 4)) b.values.set(lockKeyHex, usurper);
  await assert.rejects(held.verify(), isCode('ZSTOR_LOCK_LOST'));
  await held.release();
  // release left the usurper's claims alone
  assert.equal(backends.filter((b) => b.values.get(lockKeyHex)?.equals(usurper)).length, 4);
});

test('with lockHoldMs a store keeps the lock between writes and close() releases it', async () => {
  const backends = fakeBackends(6);
  const store = new ZstorStore(backends, keys, {
    data: 4,
    parity: 2,
    lock: fast,
    lockHoldMs: 60_000,
  });
  await store.put('one', [Buffer.from('1')]);
  const claim = backends[0]!.values.get(lockKeyHex);
  assert.ok(claim !== undefined, 'held after the write');
  await store.put('two', [Buffer.from('2')]);
  // the same owner (first 16 bytes) still holds it: it was not taken anew
  assert.deepEqual(backends[0]!.values.get(lockKeyHex)?.subarray(0, 16), claim.subarray(0, 16));
  const other = new WriterLock(backends, nameKey, { ...fast, waitMs: 200 });
  await assert.rejects(other.acquire(), isCode('ZSTOR_LOCKED'));
  await store.close();
  assert.ok(backends.every((b) => !b.values.has(lockKeyHex)));
  await (await other.acquire()).release();
});
