import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VdcError } from './errors.ts';
import { parseJson } from './strict-json.ts';

const code = (c: string) => (err: unknown) => err instanceof VdcError && err.code === c;

describe('strict JSON parsing', () => {
  test('parses what JSON.parse parses, to the same value', () => {
    const samples = [
      '{"a":[1,2.5,-3e2,true,false,null],"b":{"c":"\\u00e9\\n\\"x\\""}}',
      '[]',
      '{}',
      '"s"',
      '0',
      ' \n[ 1 , { } ] \t',
      '"\\ud83d\\ude00"',
    ];
    for (const s of samples) assert.deepEqual(parseJson(s), JSON.parse(s), s);
  });

  test('refuses duplicate keys, which JSON.parse would silently merge', () => {
    assert.throws(() => parseJson('{"amount":1,"amount":1000}'), code('JSON_DUPLICATE_KEY'));
    assert.throws(() => parseJson('{"a":{"x":1,"x":1}}'), code('JSON_DUPLICATE_KEY'));
    // The same key written with an escape is still the same key.
    assert.throws(() => parseJson('{"a":1,"\\u0061":2}'), code('JSON_DUPLICATE_KEY'));
  });

  test('refuses lone surrogates, escaped or not', () => {
    assert.throws(() => parseJson('"\\ud800"'), code('JSON_LONE_SURROGATE'));
    assert.throws(() => parseJson('{"\\udc00":1}'), code('JSON_LONE_SURROGATE'));
    assert.throws(() => parseJson('"a\ud800"'), code('JSON_LONE_SURROGATE'));
  });

  test('refuses numbers that overflow a 64-bit float', () => {
    assert.throws(() => parseJson('[1e400]'), code('JSON_NON_FINITE'));
    assert.throws(() => parseJson('-1e999'), code('JSON_NON_FINITE'));
  });

  test('refuses what is not JSON', () => {
    for (const s of [
      '',
      '{',
      '{"a":1,}',
      '[1,]',
      "{'a':1}",
      'NaN',
      'Infinity',
      '01',
      '1.',
      '+1',
      '"\t"',
      '"\\x"',
      '{"a" 1}',
      '[1] 2',
      'tru',
      'undefined',
    ]) {
      assert.throws(() => parseJson(s), code('JSON_MALFORMED'), JSON.stringify(s));
    }
  });

  test('refuses invalid UTF-8 bytes', () => {
    assert.throws(() => parseJson(Buffer.from([0x22, 0xff, 0x22])), code('JSON_MALFORMED'));
  });

  test('refuses nesting deeper than 64 levels without exhausting the stack', () => {
    assert.throws(() => parseJson('['.repeat(100000)), code('JSON_TOO_DEEP'));
  });

  test('keeps a "__proto__" key as a plain field', () => {
    const value = parseJson('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.deepEqual(Object.keys(value), ['__proto__']);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});
