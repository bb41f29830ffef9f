import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestHeaders, responseHeaders } from './forward-headers.ts';
import { nameOfHost } from './http-front.ts';

test('hop-by-hop headers and those Connection names are dropped; client forwarding claims replaced', () => {
  const out = requestHeaders(
    [
      'Host',
      'a.gw.test',
      'Connection',
      'keep-alive, X-Hop',
      'X-Hop',
      '1',
      'Keep-Alive',
      'timeout=5',
      'TE',
      'trailers',
      'X-Forwarded-For',
      '6.6.6.6',
      'Forwarded',
      'for=6.6.6.6',
      'Accept',
      '*/*',
    ],
    '2001:db8::1',
    'a.gw.test',
    'http',
  );
  assert.deepEqual(out, [
    'Host',
    'a.gw.test',
    'Accept',
    '*/*',
    'X-Forwarded-For',
    '2001:db8::1',
    'X-Forwarded-Proto',
    'http',
    'X-Forwarded-Host',
    'a.gw.test',
    'Forwarded',
    'for="[2001:db8::1]";host="a.gw.test";proto=http',
  ]);
  assert.deepEqual(
    responseHeaders(['Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Upgrade', 'h2c']),
    ['Set-Cookie', 'a=1'],
  );
});

test('the name is the one label before the gateway domain', () => {
  assert.equal(nameOfHost('Shop.GW.test:8080', 'gw.test'), 'shop');
  assert.equal(nameOfHost('shop.gw.test.', 'gw.test'), 'shop');
  assert.equal(nameOfHost('a.shop.gw.test', 'gw.test'), undefined);
  assert.equal(nameOfHost('gw.test', 'gw.test'), undefined);
  assert.equal(nameOfHost('shop.evilgw.test', 'gw.test'), undefined);
  assert.equal(nameOfHost(undefined, 'gw.test'), undefined);
});
