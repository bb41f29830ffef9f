import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalize } from './canonical-json.ts';
import { VdcError } from './errors.ts';
import { parseJson } from './strict-json.ts';

const code = (c: string) => (err: unknown) => err instanceof VdcError && err.code === c;

describe('RFC 8785 canonicalisation', () => {
  test('the example of RFC 8785 §3.2.2 (primitives and escaping)', () => {
    const input = String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`;
    assert.equal(
      canonicalize(parseJson(input)),
      String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
    );
  });

  test('sorts members by UTF-16 code units (RFC 8785 §3.2.3)', () => {
    const input = String.raw`{
      "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }`;
    const out = canonicalize(parseJson(input));
    // Object.values would list the integer-like key "1" first, so read the order off the text.
    const values = [...out.matchAll(/:"([^"]*)"/g)].map((m) => m[1]);
    assert.ok(out.startsWith('{"\\r":"Carriage Return","1":"One"'));
    assert.deepEqual(values, [
      'Carriage Return',
      'One',
      'Control',
      'Latin Small Letter O With Diaeresis',
      'Euro Sign',
      'Emoji: Grinning Face',
      'Hebrew Letter Dalet With Dagesh',
    ]);
  });

  test('serialises numbers as RFC 8785 Appendix B', () => {
    const vectors: [string, string][] = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [hex, expected] of vectors) {
      const value = Buffer.from(hex, 'hex').readDoubleBE(0);
      assert.equal(canonicalize(value), expected, `IEEE-754 ${hex}`);
    }
  });

  test('refuses NaN and Infinity, which have no JSON form (RFC 8785 Appendix B)', () => {
    for (const hex of ['7fffffffffffffff', '7ff0000000000000', 'fff0000000000000']) {
      assert.throws(
        () => canonicalize({ n: Buffer.from(hex, 'hex').readDoubleBE(0) }),
        code('JSON_NON_FINITE'),
      );
    }
  });

  test('refuses lone surrogates in values and in keys', () => {
    assert.throws(() => canonicalize({ s: 'a\ud800b' }), code('JSON_LONE_SURROGATE'));
    assert.throws(() => canonicalize({ 'k\udc00': 1 }), code('JSON_LONE_SURROGATE'));
    assert.equal(canonicalize('\ud83d\ude00'), '"😀"');
  });

  test('refuses values JSON cannot hold', () => {
    for (const value of [
      undefined,
      () => 1,
      1n,
      Symbol('s'),
      new Date(0),
      new Map(),
      Buffer.from('x'),
    ]) {
      assert.throws(
        () => canonicalize({ v: value }),
        (err: unknown) => err instanceof VdcError && err.code === 'JSON_UNSUPPORTED_VALUE',
      );
    }
  });

  test('refuses nesting deeper than 64 levels', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = [deep];
    assert.throws(() => canonicalize(deep), code('JSON_TOO_DEEP'));
  });

  test('gives one form to objects built in any order, and null-prototype objects', () => {
    const a = { b: 1, a: { d: [1, 'x'], c: null } };
    const b = Object.assign(Object.create(null), { a: { c: null, d: [1, 'x'] }, b: 1 });
    assert.equal(canonicalize(a), canonicalize(b));
    assert.equal(canonicalize(a), '{"a":{"c":null,"d":[1,"x"]},"b":1}');
  });
});
