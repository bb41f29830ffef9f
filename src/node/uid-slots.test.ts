import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import { hasCode } from '../../test/support/node-fixture.ts';
import { releaseClaimsUnder, UidSlots } from './uid-slots.ts';

const run = promisify(execFile);

function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'vdc-slots-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const registry = join(dir, 'slots');
  const node = (label: string) => {
    const folder = join(dir, label, 'containers');
    mkdirSync(folder, { recursive: true });
    return folder;
  };
  return { dir, registry, node };
}

test('two agents on one host never get the same slot; a freed slot is reused', (t) => {
  const { registry, node } = setup(t);
  const a = new UidSlots(registry, node('a'), 100);
  const b = new UidSlots(registry, node('b'), 100);
  assert.equal(a.claim('c1-web'), 0);
  assert.equal(b.claim('c1-web'), 1, 'the same container name on another node');
  assert.equal(a.claim('c2-db'), 2);
  a.release(0, 'c1-web');
  b.release(2, 'c2-db'); // not b's: nothing happens
  assert.equal(b.claim('c3-x'), 0);
  assert.equal(a.claim('c4-y'), 3);
});

test('a slot held by a node whose folder is gone is taken over; a live or torn one is not', (t) => {
  const { dir, registry, node } = setup(t);
  const gone = new UidSlots(registry, node('gone'), 10);
  assert.equal(gone.claim('c1-a'), 0);
  const live = new UidSlots(registry, node('live'), 10);
  assert.equal(live.claim('c1-a'), 1);
  writeFileSync(join(registry, '2'), '{"node":'); // a writer cut mid-claim
  rmSync(join(dir, 'gone'), { recursive: true });
  const next = new UidSlots(registry, node('next'), 10);
  assert.equal(next.claim('c9-z'), 0);
  assert.equal(next.claim('c9-w'), 3);
  assert.deepEqual(readdirSync(registry).sort(), ['0', '1', '2', '3']);
});

test('an agent re-claims its containers’ slots at start and frees the claims no container holds', (t) => {
  const { registry, node } = setup(t);
  const folder = node('a');
  const a = new UidSlots(registry, folder, 10);
  assert.equal(a.claim('c1-web'), 0);
  assert.equal(a.claim('c2-db'), 1); // its record was never written: a crash
  const restarted = new UidSlots(registry, folder, 10);
  assert.equal(restarted.hold(0, 'c1-web'), true);
  assert.equal(restarted.hold(5, 'c3-old'), true, 'a record from before claims existed');
  restarted.prune(
    new Map([
      [0, 'c1-web'],
      [5, 'c3-old'],
    ]),
  );
  assert.deepEqual(readdirSync(registry).sort(), ['0', '5']);
  const other = new UidSlots(registry, node('b'), 10);
  assert.equal(other.hold(5, 'c1-x'), false, 'a live claim of another node');
  assert.equal(other.claim('c1-x'), 1);
});

test('a full host refuses with CONTAINER_START_FAILED', (t) => {
  const { registry, node } = setup(t);
  const a = new UidSlots(registry, node('a'), 2);
  a.claim('c1-a');
  a.claim('c1-b');
  assert.throws(() => a.claim('c1-c'), hasCode('CONTAINER_START_FAILED'));
});

test('agents racing in separate processes, over free and abandoned slots, never share one', async (t) => {
  const { dir, registry, node } = setup(t);
  // 24 slots abandoned by a node whose folder is gone, so half the race is reclaiming
  const gone = new UidSlots(registry, node('gone'), 200);
  for (let i = 0; i < 24; i++) gone.claim(`c${i}-a`);
  rmSync(join(dir, 'gone'), { recursive: true });
  const script = `
    const { UidSlots } = await import(${JSON.stringify(new URL('./uid-slots.ts', import.meta.url).href)});
    const slots = new UidSlots(process.argv[1], process.argv[2], 200);
    const got = [];
    for (let i = 0; i < 16; i++) got.push(slots.claim('c' + i + '-w'));
    console.log(JSON.stringify(got));
  `;
  const racers = ['p1', 'p2', 'p3', 'p4'].map((label) =>
    run(process.execPath, ['--input-type=module', '-e', script, registry, node(label)]),
  );
  const got = (await Promise.all(racers)).flatMap((r) => JSON.parse(r.stdout) as number[]);
  assert.equal(got.length, 64);
  assert.equal(new Set(got).size, 64, `a slot was handed out twice: ${got.join(' ')}`);
  assert.ok(
    got.filter((s) => s < 24).length === 24,
    'every abandoned slot was taken over exactly once',
  );
  assert.equal(readdirSync(registry).filter((f) => f.endsWith('.reclaim')).length, 0);
});

test('a claim names its folder absolutely: an agent elsewhere never takes it for gone', (t) => {
  const { dir, registry, node } = setup(t);
  node('a');
  const here = process.cwd();
  t.after(() => process.chdir(here));
  process.chdir(dir);
  const a = new UidSlots(registry, join('a', 'containers'), 10);
  assert.equal(a.claim('c1-web'), 0);
  process.chdir(tmpdir());
  const b = new UidSlots(registry, node('b'), 10);
  assert.equal(b.claim('c1-web'), 1, "a's claim is live, wherever b runs");
  const again = new UidSlots(registry, join('a', 'containers'), 10);
  again.prune(new Map()); // a relative path meaning another folder here: not a's claims
  assert.equal(b.claim('c2-x'), 2);
});

test('a purged grid frees the claims of its node folders, and only theirs', (t) => {
  const { dir, registry, node } = setup(t);
  const grid = join(dir, 'grid');
  const a = new UidSlots(registry, node('grid/node1'), 10);
  const b = new UidSlots(registry, node('grid/node2'), 10);
  const other = new UidSlots(registry, node('other'), 10);
  assert.deepEqual([a.claim('c1-a'), b.claim('c1-a'), other.claim('c1-a')], [0, 1, 2]);
  assert.equal(releaseClaimsUnder(grid, registry), 0, 'folders still there: nothing freed');
  rmSync(grid, { recursive: true });
  rmSync(join(dir, 'other'), { recursive: true }); // gone too, but not under the grid
  assert.equal(releaseClaimsUnder(grid, registry), 2);
  assert.deepEqual(readdirSync(registry).sort(), ['2']);
});
