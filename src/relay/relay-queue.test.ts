import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { RelayQueue } from './relay-queue.ts';

const limits = { maxPerTwin: 3, maxBytesPerTwin: 100, maxBytes: 150, maxAgeMs: 1000 };
const frame = (n: number) => 'x'.repeat(n);

test('holds envelopes per twin in order and hands them over once', () => {
  const q = new RelayQueue(limits, new ManualClock());
  q.push(1, 'a', frame(10), Number.MAX_SAFE_INTEGER);
  q.push(1, 'b', frame(10), Number.MAX_SAFE_INTEGER);
  assert.deepEqual(
    q.take(1).map((i) => i.id),
    ['a', 'b'],
  );
  assert.deepEqual(q.take(1), []);
  assert.deepEqual(q.stats(), { twins: 0, envelopes: 0, bytes: 0 });
});

test('refuses past the per-twin count, per-twin bytes and total bytes with RELAY_QUEUE_FULL', () => {
  const clock = new ManualClock();
  const q = new RelayQueue(limits, clock);
  for (const id of ['a', 'b', 'c']) q.push(1, id, frame(1), clock.now() + 10_000);
  assert.throws(() => q.push(1, 'd', frame(1), clock.now() + 10_000), {
    code: 'RELAY_QUEUE_FULL',
    message: /3 envelopes/,
  });
  assert.throws(() => q.push(2, 'e', frame(101), clock.now() + 10_000), {
    code: 'RELAY_QUEUE_FULL',
    message: /100 bytes/,
  });
  q.push(2, 'f', frame(90), clock.now() + 10_000);
  assert.throws(() => q.push(3, 'g', frame(90), clock.now() + 10_000), {
    code: 'RELAY_QUEUE_FULL',
    message: /relay's queues/,
  });
  assert.deepEqual(q.stats(), { twins: 2, envelopes: 4, bytes: 93 });
});

test("drops envelopes at their expiry or the queue's age limit, whichever is first", () => {
  const clock = new ManualClock();
  const q = new RelayQueue(limits, clock);
  q.push(1, 'short', frame(1), clock.now() + 100);
  q.push(1, 'long', frame(1), clock.now() + 60_000);
  clock.advance(100);
  assert.equal(q.sweep(), 1);
  clock.advance(900);
  assert.equal(q.sweep(), 1);
  assert.deepEqual(q.stats(), { twins: 0, envelopes: 0, bytes: 0 });
});
