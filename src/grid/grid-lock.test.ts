/*
 * The grid folder's lock: one holder at a time, even when several processes race for it
 * and holders die while holding it (their dead lock taken over by several at once).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { hasCode, tempDir } from '../../test/support/ledger-fixture.ts';
import { lockGrid } from './grid-lock.ts';

const NODE = process.execPath;
const LOCK_MODULE = new URL('./grid-lock.ts', import.meta.url).href;

const folder = (t: TestContext) => tempDir(t, 'vdc-grid-lock-');

/*
 * A contender: ROUNDS times it tries the lock; holding it, it creates `holder` O_EXCL (a
 * second holder at the same moment finds it there: exit 3), works a little, removes it, and
 * then releases — or, one time in four, "dies" holding it: its lock is swapped for one of a
 * dead process (or for an empty file, as an older `vdc` crashing mid-write left), never
 * released, for the others to take over at once.
 */
const CONTENDER = `
import { renameSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
const { lockGrid } = await import(process.argv[1]);
const dir = process.argv[2];
const rounds = Number(process.argv[3]);
let held = 0;
for (let i = 0; i < rounds; i++) {
  let release;
  try {
    release = lockGrid(dir);
  } catch (err) {
    if (err.code !== 'GRID_BUSY') throw err;
    continue;
  }
  held++;
  try {
    writeFileSync(join(dir, 'holder'), String(process.pid), { flag: 'wx' });
  } catch {
    process.stdout.write('DOUBLE\\n');
    process.exit(3);
  }
  for (let k = 0; k < 20; k++) readdirSync(dir);
  rmSync(join(dir, 'holder'));
  if (i % 4 === 3) {
    const temp = join(dir, 'dead.' + process.pid);
    writeFileSync(temp, i % 8 === 7 ? '' : JSON.stringify({ pid: 999999999, startTicks: '1' }));
    renameSync(temp, join(dir, 'grid.lock'));
  } else release();
}
process.stdout.write('HELD ' + held + '\\n');
`;

function contend(dir: string, rounds: number): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      NODE,
      ['--input-type=module', '-e', CONTENDER, LOCK_MODULE, dir, String(rounds)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c ?? -1, out }));
  });
}

describe('the grid lock', () => {
  test('one up or down at a time per grid folder; a dead holder’s lock is taken over', (t) => {
    const dir = folder(t);
    const release = lockGrid(dir);
    assert.throws(() => lockGrid(dir), hasCode('GRID_BUSY'));
    release();
    assert.equal(existsSync(join(dir, 'grid.lock')), false);

    // A holder that is gone (pid and start time no longer match a process).
    writeFileSync(join(dir, 'grid.lock'), JSON.stringify({ pid: 999_999_999, startTicks: '1' }));
    const again = lockGrid(dir);
    assert.equal(JSON.parse(readFileSync(join(dir, 'grid.lock'), 'utf8')).pid, process.pid);
    again();
    assert.deepEqual(readdirSync(dir), [], 'no temporary or stale file is left');
  });

  test('never held twice: eight processes race, and holders die holding it', async (t) => {
    const dir = folder(t);
    const results = await Promise.all(Array.from({ length: 8 }, () => contend(dir, 400)));
    for (const r of results) assert.equal(r.code, 0, `a contender saw a second holder: ${r.out}`);
    const held = results.map((r) => Number(/^HELD ([0-9]+)$/m.exec(r.out)?.[1]));
    assert.ok(
      held.reduce((a, b) => a + b, 0) > 8,
      `the lock was taken, and taken over: ${held.join(', ')}`,
    );
  });
});
