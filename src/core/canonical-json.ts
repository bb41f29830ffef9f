import { fail } from './assert.ts';

/** A value that has one canonical JSON form. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

export const MAX_JSON_DEPTH = 64;

// A UTF-16 surrogate not paired with its other half: RFC 8785 §3.2.2.2 (I-JSON) forbids them.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function serializeString(value: string, path: string): string {
  if (LONE_SURROGATE.test(value))
    fail(
      'JSON_LONE_SURROGATE',
      `${path} holds a lone UTF-16 surrogate: encode text as valid Unicode`,
    );
  // ECMAScript's JSON.stringify of a well-formed string is exactly RFC 8785 §3.2.2.2.
  return JSON.stringify(value);
}

function serialize(value: unknown, path: string, depth: number, out: string[]): void {
  if (value === null) {
    out.push('null');
  } else if (typeof value === 'boolean') {
    out.push(value ? 'true' : 'false');
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value))
      fail('JSON_NON_FINITE', `${path} is ${value}: JSON has no such number; send a finite number`);
    // Number.prototype.toString is the ECMAScript serialisation RFC 8785 §3.2.2.3 adopts (-0 gives "0").
    out.push(String(value));
  } else if (typeof value === 'string') {
    out.push(serializeString(value, path));
  } else if (typeof value === 'object') {
    if (depth >= MAX_JSON_DEPTH)
      fail('JSON_TOO_DEEP', `${path} is nested deeper than ${MAX_JSON_DEPTH} levels`);
    if (Array.isArray(value)) {
      out.push('[');
      value.forEach((item, i) => {
        if (i > 0) out.push(',');
        serialize(item, `${path}[${i}]`, depth + 1, out);
      });
      out.push(']');
    } else {
      if (!isPlainObject(value))
        fail(
          'JSON_UNSUPPORTED_VALUE',
          `${path} is a ${value.constructor?.name ?? 'non-plain object'}: only plain objects, arrays, strings, finite numbers, booleans and null are canonical`,
        );
      // Default sort compares UTF-16 code units, the order RFC 8785 §3.2.3 prescribes.
      const keys = Object.keys(value).sort();
      out.push('{');
      keys.forEach((key, i) => {
        const item = (value as Record<string, unknown>)[key];
        if (item === undefined)
          fail(
            'JSON_UNSUPPORTED_VALUE',
            `${path}.${key} is undefined: omit the field or give it a value`,
          );
        if (i > 0) out.push(',');
        out.push(serializeString(key, `${path} key`), ':');
        serialize(item, `${path}.${key}`, depth + 1, out);
      });
      out.push('}');
    }
  } else {
    fail('JSON_UNSUPPORTED_VALUE', `${path} is of type ${typeof value}, which JSON cannot hold`);
  }
}

/**
 * RFC 8785 (JCS) canonical form of a value, as a string.
 * @throws VdcError JSON_NON_FINITE, JSON_LONE_SURROGATE, JSON_UNSUPPORTED_VALUE, JSON_TOO_DEEP
 */
export function canonicalize(value: unknown): string {
  const out: string[] = [];
  serialize(value, '$', 0, out);
  return out.join('');
}

/** RFC 8785 canonical form as UTF-8 bytes: what gets hashed and signed. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), 'utf8');
}
