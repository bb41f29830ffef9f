import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import {
  ConnectionRate,
  DEFAULT_RATE_LIMITS,
  type RateLimits,
  rateLimitsProblem,
  TokenBucket,
} from './rate-limiter.ts';

const limits: RateLimits = {
  rateMessagesPerSecond: 10,
  rateBurstMessages: 5,
  rateBytesPerSecond: 1000,
  rateBurstBytes: 2000,
  rateHardFactor: 2,
  ratePeerFactor: 10,
};

test('a token bucket gives its burst, then refills at its rate and never past its burst', () => {
  const clock = new ManualClock();
  const b = new TokenBucket(10, 3, clock);
  assert.deepEqual([b.take(1), b.take(1), b.take(1), b.take(1)], [true, true, true, false]);
  clock.advance(100); // one token
  assert.deepEqual([b.take(1), b.take(1)], [true, false]);
  clock.advance(60_000);
  assert.equal(b.tokens, 3);
});

test('a clock stepping back neither drains nor fills a bucket', () => {
  const clock = new ManualClock();
  const b = new TokenBucket(10, 3, clock);
  b.take(2);
  clock.advance(-10_000);
  assert.equal(b.tokens, 1);
  clock.advance(100);
  assert.equal(b.tokens, 2);
});

test('a connection gets its burst, then refusals, then is closed past the hard bound', () => {
  const clock = new ManualClock();
  const rate = new ConnectionRate(limits, clock);
  const verdicts = Array.from({ length: 11 }, () => rate.check(10));
  assert.deepEqual(verdicts, [
    ...Array<string>(5).fill('admit'),
    ...Array<string>(5).fill('refuse'),
    'close',
  ]);
  assert.equal(rate.refused, 5);
});

test('a connection that slows down when refused is admitted again and never closed', () => {
  const clock = new ManualClock();
  const rate = new ConnectionRate(limits, clock);
  let admitted = 0;
  let refused = 0;
  for (let second = 0; second < 20; second++) {
    // Asks for twice its rate, but stops for the rest of the second at the first refusal.
    for (let i = 0; i < 20; i++) {
      const v = rate.check(10);
      assert.notEqual(v, 'close');
      if (v === 'admit') admitted++;
      else {
        refused++;
        break;
      }
    }
    clock.advance(1000);
  }
  // A second refills 10 tokens, but the bucket holds at most its burst of 5.
  assert.equal(admitted, 20 * 5);
  assert.equal(refused, 20);
});

test('bytes count as well as messages: a frame past the byte burst is refused', () => {
  const clock = new ManualClock();
  const rate = new ConnectionRate(limits, clock);
  assert.equal(rate.check(1500), 'admit');
  assert.equal(rate.check(1000), 'refuse', 'only 500 bytes left');
  assert.equal(rate.check(400), 'admit');
  clock.advance(1000);
  assert.equal(rate.check(1000), 'admit');
});

test('a peer relay gets its factor times the bounds of a twin', () => {
  const clock = new ManualClock();
  const rate = new ConnectionRate(limits, clock, limits.ratePeerFactor);
  const verdicts = Array.from({ length: 51 }, () => rate.check(1));
  assert.equal(verdicts.filter((v) => v === 'admit').length, 50);
  assert.equal(verdicts.at(-1), 'refuse');
});

test('limits that cannot work are named', () => {
  assert.equal(rateLimitsProblem(DEFAULT_RATE_LIMITS, 256 * 1024), null);
  assert.match(
    rateLimitsProblem({ ...limits, rateBurstBytes: 100 }, 256 * 1024) ?? '',
    /rateBurstBytes/,
  );
  assert.match(
    rateLimitsProblem({ ...limits, rateMessagesPerSecond: 0 }, 1000) ?? '',
    /rateMessagesPerSecond/,
  );
  assert.match(rateLimitsProblem({ ...limits, rateHardFactor: 0.5 }, 1000) ?? '', /rateHardFactor/);
});
