import assert from 'node:assert/strict';
import { test } from 'node:test';
import { settleWithin } from './settle-within.ts';

test('the value in time, undefined past the deadline, a rejection in time passed on', async () => {
  assert.equal(await settleWithin(Promise.resolve(7), 1_000), 7);
  const never = new Promise<number>(() => {});
  assert.equal(await settleWithin(never, 10), undefined);
  await assert.rejects(settleWithin(Promise.reject(new Error('no')), 1_000), /no/);
});
