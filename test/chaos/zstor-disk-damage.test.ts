import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  checkStore,
  isHealthy,
  type MaintenanceTarget,
  repairStore,
  ZdbShardBackend,
  ZstorStore,
  zstorKeysFromSeed,
} from '../../src/zstor/index.ts';
import { startZdbNodes } from '../../src/zstor/zdb-backend-test-kit.ts';

/*
 * Damage done to a zdb's files on disk, behind zstor's back: bytes flipped inside shards,
 * and a whole server's files replaced by an old copy. check must find it, repair must fix
 * it with the meta root alone, and afterwards any two other servers may be lost.
 */

const CHUNK = 128 * 1024;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

async function setup(t: { after(fn: () => unknown): void }, minShards = 6) {
  const nodes = await startZdbNodes(t, 6);
  const backends = nodes.map((n) => new ZdbShardBackend(n.backend));
  t.after(() => {
    for (const b of backends) b.close();
  });
  const keys = zstorKeysFromSeed(randomBytes(64));
  const store = new ZstorStore(backends, keys, {
    data: 4,
    parity: 2,
    chunkSize: CHUNK,
    minShards,
  });
  const target: MaintenanceTarget = {
    backends,
    keys: { meta: keys.meta },
    data: 4,
    parity: 2,
    minShards,
  };
  const read = async (name: string) => {
    const parts: Buffer[] = [];
    for await (const p of store.get(name)) parts.push(p);
    return Buffer.concat(parts);
  };
  return { nodes, backends, store, target, read };
}

describe('zstor: damage on zdb disks', () => {
  test('bytes flipped in shards inside a data file: check detects, repair repairs', async (t) => {
    const { nodes, backends, store, target, read } = await setup(t);
    const objects = [randomBytes(6 * CHUNK + 5), randomBytes(777)];
    for (const [i, d] of objects.entries()) await store.put(`o${i}`, [d]);
    const victim = nodes[2]!;
    await victim.stop();
    let flipped = 0;
    for (const f of filesUnder(victim.dataDir)) {
      const bytes = readFileSync(f);
      for (let at = bytes.indexOf('VZSH'); at >= 0; at = bytes.indexOf('VZSH', at + 4)) {
        bytes[at + 78]! ^= 0x01; // second payload byte of the shard
        flipped++;
      }
      writeFileSync(f, bytes);
    }
    assert.ok(flipped >= 8, `flipped ${flipped}`);
    await victim.start();

    const report = await checkStore(target);
    const bad = report.findings;
    assert.ok(bad.length > 0);
    for (const f of bad) {
      assert.equal(f.problem, 'corrupt', f.detail);
      assert.equal(f.backend, backends[2]!.id);
    }
    // every chunk of o0 has a shard on that server (6 backends, 6 shards)
    assert.equal(bad.filter((f) => f.kind === 'chunk' && f.object === 'o0').length, 7);
    assert.ok(bad.some((f) => f.kind === 'root'));
    assert.ok(bad.some((f) => f.kind === 'manifest'));
    assert.deepEqual(await read('o0'), objects[0]); // readable around them meanwhile

    const r = await repairStore(target);
    assert.deepEqual(r.failed, []);
    assert.equal(r.moved, 0);
    assert.ok(isHealthy(await checkStore(target)));
    await nodes[0]!.stop();
    await nodes[5]!.stop();
    for (const [i, d] of objects.entries()) assert.deepEqual(await read(`o${i}`), d);
  });

  test('a server restored from an old copy of its files: stale shards detected and repaired', async (t) => {
    const { nodes, store, target, read } = await setup(t);
    const a1 = randomBytes(3 * CHUNK);
    await store.put('a', [a1]);
    await store.put('gone', [randomBytes(1000)]);
    const victim = nodes[4]!;
    await victim.stop();
    const backup = `${victim.dir}.backup`;
    cpSync(victim.dir, backup, { recursive: true });
    t.after(() => rmSync(backup, { recursive: true, force: true }));
    await victim.start();
    // Life goes on: a new object, a new version of a, a removal.
    const b = randomBytes(2 * CHUNK + 9);
    const a2 = randomBytes(CHUNK + 1);
    await store.put('b', [b]);
    await store.put('a', [a2]);
    await store.remove('gone');
    await victim.stop();
    rmSync(victim.dir, { recursive: true, force: true });
    cpSync(backup, victim.dir, { recursive: true });
    await victim.start();

    const report = await checkStore(target);
    assert.ok(
      report.findings.some((f) => f.kind === 'root' && f.problem === 'stale'),
      JSON.stringify(report.findings),
    );
    const missing = report.findings.filter((f) => f.problem === 'missing');
    assert.ok(missing.some((f) => f.object === 'b' && f.kind === 'chunk'));
    assert.ok(missing.some((f) => f.object === 'a' && f.version === 2));
    assert.ok(!report.findings.some((f) => f.object === 'a' && f.version === 1));
    for (const f of report.findings) assert.match(f.backend ?? '', new RegExp(`:${victim.port}/`));

    const r = await repairStore(target);
    assert.deepEqual(r.failed, []);
    assert.ok(isHealthy(await checkStore(target)));
    await nodes[0]!.stop();
    await nodes[1]!.stop();
    assert.deepEqual(await read('b'), b);
    assert.deepEqual(await read('a'), a2);
    assert.deepEqual(
      (await store.list()).map((o) => o.name),
      ['a', 'b'],
    );
  });

  test('a server killed in the middle of a put: the write completes degraded, repair restores it', async (t) => {
    const { nodes, store, target, read } = await setup(t, 5);
    const data = randomBytes(40 * CHUNK + 3);
    let sent = 0;
    async function* source(): AsyncGenerator<Buffer> {
      for (let at = 0; at < data.length; at += 64 * 1024) {
        // a third of the way in, one server dies (its connections are cut)
        if (sent === 13 * CHUNK) await nodes[5]!.stop();
        const piece = data.subarray(at, at + 64 * 1024);
        sent += piece.length;
        yield piece;
      }
    }
    const m = await store.put('big', source());
    const unplaced = m.chunks.filter((c) => c.shards.some((s) => s.backend === null)).length;
    assert.ok(unplaced > 0 && unplaced < m.chunks.length, `unplaced in ${unplaced} chunks`);
    assert.deepEqual(await read('big'), data);
    await nodes[5]!.start();
    const r = await repairStore(target);
    assert.deepEqual(r.failed, []);
    assert.ok(isHealthy(await checkStore(target)));
    await nodes[1]!.stop();
    await nodes[2]!.stop();
    assert.deepEqual(await read('big'), data);
  });
});
