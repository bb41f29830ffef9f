import { fail } from './assert.ts';
import { type JsonValue, MAX_JSON_DEPTH } from './canonical-json.ts';

/*
 * A JSON parser (RFC 8259) that refuses what JSON.parse silently accepts and what would let
 * two parties read one signed document differently: duplicate keys (JSON.parse keeps the
 * last), lone surrogates, numbers that overflow to Infinity, and nesting deep enough to
 * exhaust the stack.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

class Parser {
  private pos = 0;
  private readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  parseDocument(): JsonValue {
    const value = this.value(0);
    this.skipSpace();
    if (this.pos !== this.text.length) this.error('unexpected data after the JSON value');
    return value;
  }

  private error(what: string): never {
    fail('JSON_MALFORMED', `malformed JSON at offset ${this.pos}: ${what}`);
  }

  private skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      this.pos++;
    }
  }

  private value(depth: number): JsonValue {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === '{' || c === '[') {
      if (depth >= MAX_JSON_DEPTH)
        fail(
          'JSON_TOO_DEEP',
          `JSON is nested deeper than ${MAX_JSON_DEPTH} levels at offset ${this.pos}`,
        );
      return c === '{' ? this.object(depth) : this.array(depth);
    }
    if (c === '"') return this.string();
    if (this.text.startsWith('true', this.pos)) return this.literal('true', true);
    if (this.text.startsWith('false', this.pos)) return this.literal('false', false);
    if (this.text.startsWith('null', this.pos)) return this.literal('null', null);
    return this.number();
  }

  private literal<T>(word: string, value: T): T {
    this.pos += word.length;
    return value;
  }

  private number(): number {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (!match)
      this.error(this.pos >= this.text.length ? 'unexpected end of input' : 'expected a value');
    const value = Number(match[0]);
    if (!Number.isFinite(value))
      fail(
        'JSON_NON_FINITE',
        `number ${match[0].slice(0, 40)} at offset ${this.pos} does not fit a 64-bit float`,
      );
    this.pos += match[0].length;
    return value;
  }

  private string(): string {
    const t = this.text;
    this.pos++; // opening quote
    let out = '';
    let runStart = this.pos;
    for (;;) {
      if (this.pos >= t.length) this.error('unterminated string');
      const c = t.charCodeAt(this.pos);
      if (c === 0x22) break;
      if (c < 0x20) this.error('control character in string: escape it');
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += t.slice(runStart, this.pos);
      const e = t[this.pos + 1];
      if (e === 'u') {
        const hex = t.slice(this.pos + 2, this.pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.error('bad \\u escape');
        out += String.fromCharCode(Number.parseInt(hex, 16));
        this.pos += 6;
      } else if (e !== undefined && Object.hasOwn(ESCAPES, e)) {
        out += ESCAPES[e];
        this.pos += 2;
      } else {
        this.error('bad escape in string');
      }
      runStart = this.pos;
    }
    out += t.slice(runStart, this.pos);
    this.pos++; // closing quote
    if (!out.isWellFormed())
      fail(
        'JSON_LONE_SURROGATE',
        `string ending at offset ${this.pos} holds a lone UTF-16 surrogate`,
      );
    return out;
  }

  private array(depth: number): JsonValue[] {
    this.pos++;
    const out: JsonValue[] = [];
    this.skipSpace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.skipSpace();
      const c = this.text[this.pos++];
      if (c === ']') return out;
      if (c !== ',') this.error("expected ',' or ']'");
    }
  }

  private object(depth: number): { [key: string]: JsonValue } {
    this.pos++;
    const out: { [key: string]: JsonValue } = {};
    this.skipSpace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] !== '"') this.error('expected a string key');
      const keyAt = this.pos;
      const key = this.string();
      if (Object.hasOwn(out, key))
        fail(
          'JSON_DUPLICATE_KEY',
          `key ${JSON.stringify(key)} appears twice in one object (offset ${keyAt}): keep one`,
        );
      this.skipSpace();
      if (this.text[this.pos++] !== ':') this.error("expected ':'");
      // defineProperty, not assignment: a key named "__proto__" must stay a plain field.
      Object.defineProperty(out, key, {
        value: this.value(depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      this.skipSpace();
      const c = this.text[this.pos++];
      if (c === '}') return out;
      if (c !== ',') this.error("expected ',' or '}'");
    }
  }
}

/**
 * Parses JSON text or UTF-8 bytes strictly.
 * @throws VdcError JSON_MALFORMED, JSON_DUPLICATE_KEY, JSON_LONE_SURROGATE, JSON_NON_FINITE, JSON_TOO_DEEP
 */
export function parseJson(input: string | Uint8Array): JsonValue {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    try {
      text = utf8.decode(input);
    } catch (cause) {
      fail('JSON_MALFORMED', 'JSON input is not valid UTF-8', cause);
    }
  }
  return new Parser(text).parseDocument();
}
