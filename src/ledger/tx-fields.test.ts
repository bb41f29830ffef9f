import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  readBase64,
  readCidr,
  readDnsName,
  readHostPort,
  readList,
  readWsUrl,
} from './tx-fields.ts';

const C = 'TX_BODY_INVALID';
const ok = (fn: () => unknown) => assert.doesNotThrow(fn);
const bad = (fn: () => unknown) => assert.throws(fn, { code: C });

describe('field readers', () => {
  it('read host:port in one spelling', () => {
    for (const v of ['192.0.2.1:1', '[2001:db8::1]:65535', 'gw.example.org:443'])
      ok(() => readHostPort(v, 'f', C));
    for (const v of [
      '192.0.2.1',
      ':80',
      'host:0',
      'host:65536',
      'host:080',
      '[2001:DB8::1]:1',
      '2001:db8::1:80',
      'UP.example:1',
      'a b:1',
    ])
      bad(() => readHostPort(v, 'f', C));
  });

  it('read CIDR networks', () => {
    for (const v of ['0.0.0.0/0', '192.0.2.0/24', '2001:db8::/32', '::/0'])
      ok(() => readCidr(v, 'f', C));
    for (const v of [
      '192.0.2.0',
      '192.0.2.0/33',
      '2001:db8::/129',
      '2001:DB8::/32',
      'x/8',
      '10.0.0.0/08',
    ])
      bad(() => readCidr(v, 'f', C));
  });

  it('read canonical base64 only', () => {
    ok(() => readBase64('AAAA', 'f', 3, C));
    ok(() => readBase64('QQ==', 'f', 1, C, 1));
    for (const v of ['QR==', 'QQ=', 'QQ', 'A A=', 'AAAA\n', '____'])
      bad(() => readBase64(v, 'f', 10, C));
    bad(() => readBase64('AAAAAA==', 'f', 3, C));
    bad(() => readBase64('AAAA', 'f', 3, C, 2));
  });

  it('read DNS names and ws URLs', () => {
    ok(() => readDnsName('a.example.org', 'f', C));
    for (const v of ['', 'A.example', 'a..b', 'a-.b', `${'a'.repeat(64)}.b`])
      bad(() => readDnsName(v, 'f', C));
    ok(() => readWsUrl('wss://relay.example.org/', 'f', C));
    for (const v of ['wss://relay.example.org', 'https://x/', 'ws://u:p@x/', 'not a url'])
      bad(() => readWsUrl(v, 'f', C));
  });

  it('read bounded lists, refusing duplicates when asked', () => {
    const item = (v: unknown) => v as number;
    assert.deepEqual(readList([1, 2], 'f', 2, C, item), [1, 2]);
    bad(() => readList([1, 2, 3], 'f', 2, C, item));
    bad(() => readList([1, 1], 'f', 2, C, item, { unique: true }));
    bad(() => readList({}, 'f', 2, C, item));
  });
});
