import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Envelope } from './envelope.ts';
import { ResponseCache } from './response-cache.ts';

const response = (id: string) => ({ id }) as unknown as Envelope;

test('a response is kept until the request it answers expires', () => {
  const cache = new ResponseCache();
  const key = ResponseCache.key(7, 'ab');
  cache.put(key, response('r1'), 1000);
  assert.equal(cache.get(key, 999)?.id, 'r1');
  assert.equal(cache.get(ResponseCache.key(8, 'ab'), 0), undefined, 'another requester');
  assert.equal(cache.get(key, 1000), undefined);
  assert.equal(cache.size, 0, 'dropped once expired');
});

test('the cache holds at most its bound, dropping the oldest first', () => {
  const cache = new ResponseCache(2);
  cache.put('1:a', response('a'), 10);
  cache.put('1:b', response('b'), 10);
  cache.put('1:c', response('c'), 10);
  assert.deepEqual(
    ['1:a', '1:b', '1:c'].map((k) => cache.get(k, 0)?.id),
    [undefined, 'b', 'c'],
  );
});
