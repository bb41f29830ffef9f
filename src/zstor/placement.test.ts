import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { FakeShardBackend } from './fake-shard-backend.ts';
import { checkPlacement, placeChunk } from './placement.ts';

test('places one shard per node, rotating the start by chunk', () => {
  const backends = [
    new FakeShardBackend('a', 'n1'),
    new FakeShardBackend('b', 'n1'),
    new FakeShardBackend('c', 'n2'),
    new FakeShardBackend('d', 'n3'),
  ];
  const rules = { total: 3, distinctFarms: false };
  checkPlacement(backends, rules);
  for (let chunk = 0; chunk < 8; chunk++) {
    const placed = placeChunk(backends, rules, chunk);
    assert.equal(placed.length, 3);
    assert.equal(new Set(placed.map((b) => b.node)).size, 3);
  }
  assert.notDeepEqual(
    placeChunk(backends, rules, 0).map((b) => b.id),
    placeChunk(backends, rules, 1).map((b) => b.id),
  );
  assert.equal(
    placeChunk(backends, rules, 0, new Set(['c'])).length,
    2,
    'excluded backends leave a short placement',
  );
});

test('refuses duplicates, nodes in two farms and too few nodes or farms', () => {
  const code = (fn: () => unknown, c: string) =>
    assert.throws(fn, (e) => e instanceof VdcError && e.code === c);
  const rules = { total: 2, distinctFarms: true };
  code(
    () =>
      checkPlacement(
        [new FakeShardBackend('a', 'n1', 'f1'), new FakeShardBackend('a', 'n2', 'f2')],
        rules,
      ),
    'ZSTOR_CONFIG_INVALID',
  );
  code(
    () =>
      checkPlacement(
        [new FakeShardBackend('a', 'n1', 'f1'), new FakeShardBackend('b', 'n1', 'f2')],
        rules,
      ),
    'ZSTOR_CONFIG_INVALID',
  );
  code(
    () =>
      checkPlacement(
        [new FakeShardBackend('a', 'n1', 'f1'), new FakeShardBackend('b', 'n2', 'f1')],
        rules,
      ),
    'ZSTOR_PLACEMENT_IMPOSSIBLE',
  );
  code(
    () =>
      checkPlacement([new FakeShardBackend('a', 'n1'), new FakeShardBackend('b', 'n1')], {
        total: 2,
        distinctFarms: false,
      }),
    'ZSTOR_PLACEMENT_IMPOSSIBLE',
  );
});
