import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { VdcError } from '../../src/core/errors.ts';
import {
  checkStore,
  isHealthy,
  type MaintenanceTarget,
  repairStore,
  ZdbShardBackend,
  ZstorStore,
  zstorKeysFromSeed,
} from '../../src/zstor/index.ts';
import { startZdbProcesses } from '../../src/zstor/zdb-backend-test-kit.ts';

/*
 * zstor over six `vdc zdb serve` processes that are killed with SIGKILL (no flush, no
 * goodbye) and started again: up to `parity` dead servers cost nothing, one more is a
 * clear error, and what was written while one was dead is repaired once it is back.
 */

const CHUNK = 128 * 1024;

test('SIGKILLed zdb processes: reads survive parity losses; writes while one is dead are repaired', async (t) => {
  const procs = await startZdbProcesses(t, 6);
  const backends = procs.map((p) => new ZdbShardBackend(p.backend));
  t.after(() => {
    for (const b of backends) b.close();
  });
  const keys = zstorKeysFromSeed(randomBytes(64));
  const options = { data: 4, parity: 2, chunkSize: CHUNK, minShards: 5 };
  const store = new ZstorStore(backends, keys, options);
  const target: MaintenanceTarget = { backends, keys: { meta: keys.meta }, ...options };
  const read = async (name: string) => {
    const parts: Buffer[] = [];
    for await (const p of store.get(name)) parts.push(p);
    return Buffer.concat(parts);
  };
  const a = randomBytes(7 * CHUNK + 1);
  await store.put('a', [a]);

  await procs[1]!.kill();
  await procs[3]!.kill();
  assert.deepEqual(await read('a'), a);
  await procs[5]!.kill();
  await assert.rejects(read('a'), (err: unknown) => {
    assert.ok(err instanceof VdcError && err.code === 'ZSTOR_METADATA_NOT_FOUND', String(err));
    for (const i of [1, 3, 5]) assert.match(err.message, new RegExp(`:${procs[i]!.port}/zstor`));
    return true;
  });
  await procs[3]!.start();
  await procs[5]!.start();

  // One server still dead: the write lands on five and is queued for repair.
  const b = randomBytes(3 * CHUNK + 7);
  const m = await store.put('b', [b]);
  assert.ok(m.chunks.every((c) => c.shards.some((s) => s.backend === null)));
  await procs[1]!.start();
  const before = await checkStore(target);
  assert.ok(!isHealthy(before));
  assert.ok(
    before.findings.every((f) => f.problem === 'missing'),
    JSON.stringify(before.findings),
  );
  const r = await repairStore(target);
  assert.deepEqual(r.failed, []);
  assert.ok(isHealthy(await checkStore(target)));

  // Everything survived the kills on disk: any two servers may go again.
  await procs[0]!.kill();
  await procs[4]!.kill();
  assert.deepEqual(await read('a'), a);
  assert.deepEqual(await read('b'), b);
});
