import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NameRecord } from '../ledger/index.ts';
import { addressAllowed, clientAddress, RateLimiter } from './name-policy.ts';

function record(rules: NameRecord['rules']): NameRecord {
  return {
    name: 'app',
    twin: 1,
    gateway: 1,
    mode: 'http',
    rules,
    nodes: [],
    registeredAt: 0,
    updatedAt: 0,
  };
}

test('allow and deny lists: allow narrows, deny wins', () => {
  const r = record({ allow: ['10.0.0.0/8', 'fd00::/8'], deny: ['10.9.0.0/16'] });
  assert.equal(addressAllowed(r, '10.1.2.3'), true);
  assert.equal(addressAllowed(r, '10.9.2.3'), false);
  assert.equal(addressAllowed(r, '192.168.1.1'), false);
  assert.equal(addressAllowed(r, 'fd12::1'), true);
  assert.equal(addressAllowed(record({}), '1.2.3.4'), true);
  assert.equal(clientAddress('::ffff:10.9.2.3'), '10.9.2.3');
});

test('the rate limit is a token bucket per name and client address', () => {
  let now = 0;
  const limiter = new RateLimiter(1000, () => now);
  const r = record({ rateLimit: { requests: 2, perSeconds: 10 } });
  assert.equal(limiter.take(r, '1.1.1.1'), 0);
  assert.equal(limiter.take(r, '1.1.1.1'), 0);
  assert.equal(limiter.take(r, '1.1.1.1'), 5, 'one token comes back every 5 s');
  assert.equal(limiter.take(r, '2.2.2.2'), 0, 'another address has its own bucket');
  now = 5000;
  assert.equal(limiter.take(r, '1.1.1.1'), 0);
  assert.ok(limiter.take(r, '1.1.1.1') > 0);
  assert.equal(limiter.take(record({}), '1.1.1.1'), 0, 'no rule, no limit');
});
