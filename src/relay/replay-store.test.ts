import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { tempDir } from './relay-test-kit.ts';
import { REPLAY_FILE, ReplayStore } from './replay-store.ts';

const key = (n: number) => `7:${n.toString(16).padStart(32, '0')}`;

test('remembers ids across a reopen until they expire', async (t) => {
  const dir = tempDir(t);
  const clock = new ManualClock();
  const a = ReplayStore.open(dir, { clock });
  await a.add(key(1), clock.now() + 1000);
  await a.add(key(2), clock.now() + 5000);
  await a.close();
  clock.advance(2000);
  const b = ReplayStore.open(dir, { clock });
  t.after(() => b.close());
  assert.equal(b.has(key(1)), false);
  assert.equal(b.has(key(2)), true);
  assert.equal(b.size, 1);
});

test('drops a torn last line (never acknowledged) but refuses a damaged middle line', async (t) => {
  const dir = tempDir(t);
  const clock = new ManualClock();
  const a = ReplayStore.open(dir, { clock });
  await a.add(key(1), clock.now() + 1000);
  await a.close();
  appendFileSync(join(dir, REPLAY_FILE), '7:00ab');
  const b = ReplayStore.open(dir, { clock });
  assert.equal(b.has(key(1)), true);
  await b.close();
  writeFileSync(join(dir, REPLAY_FILE), `garbage\n${key(1)} ${clock.now() + 1000}\n`);
  assert.throws(() => ReplayStore.open(dir, { clock }), { code: 'REPLAY_STORE_CORRUPT' });
});

test('refuses new ids with REPLAY_STORE_FULL rather than forget unexpired ones', async (t) => {
  const dir = tempDir(t);
  const clock = new ManualClock();
  const s = ReplayStore.open(dir, { clock, maxEntries: 3 });
  t.after(() => s.close());
  for (let i = 0; i < 3; i++) await s.add(key(i), clock.now() + 1000);
  assert.throws(() => s.add(key(9), clock.now() + 1000), { code: 'REPLAY_STORE_FULL' });
  assert.equal(s.has(key(0)), true);
  clock.advance(1000);
  await s.add(key(9), clock.now() + 1000);
  assert.equal(s.size, 1);
});

test('compacts the file to the live ids once dead lines dominate', async (t) => {
  const dir = tempDir(t);
  const clock = new ManualClock();
  const s = ReplayStore.open(dir, { clock });
  for (let i = 0; i < 1100; i++) {
    await s.add(key(i), clock.now() + 10);
    clock.advance(1);
  }
  await s.close();
  const lines = readFileSync(join(dir, REPLAY_FILE), 'utf8').trim().split('\n');
  assert.ok(lines.length < 200, `compacted to ${lines.length} lines`);
  const again = ReplayStore.open(dir, { clock });
  t.after(() => again.close());
  assert.equal(again.has(key(1099)), true);
});
