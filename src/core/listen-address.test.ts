import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseListen } from './listen-address.ts';

test("--listen is checked where it enters, with the caller's code", () => {
  assert.deepEqual(parseListen('127.0.0.1:7700'), { host: '127.0.0.1', port: 7700 });
  assert.deepEqual(parseListen('[::1]:80'), { host: '::1', port: 80 });
  for (const bad of ['7700', 'host:', 'host:70000', '::1:80', 'a:b']) {
    assert.throws(
      () => parseListen(bad, '--listen', 'RELAY_LISTEN_INVALID'),
      { code: 'RELAY_LISTEN_INVALID' },
      bad,
    );
    assert.throws(() => parseListen(bad), { code: 'USAGE' }, bad);
  }
});
