import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_ARGS, RespParser, RespProtocolError } from './resp-parser.ts';
import { resp } from './zdb-test-kit.ts';

function parseAll(chunks: Buffer[]): Buffer[][] {
  const p = new RespParser();
  const out: Buffer[][] = [];
  for (const c of chunks) p.feed(c, (args) => out.push(args.map((a) => Buffer.from(a))));
  return out;
}

const refuses = (message: string) => (err: unknown) =>
  err instanceof RespProtocolError && err.message === message;

describe('RESP parser', () => {
  test('parses pipelined requests in one chunk, binary-safe', () => {
    const bin = Buffer.from([0, 13, 10, 255, 36, 42]);
    const out = parseAll([Buffer.concat([resp('SET', 'k', bin), resp('GET', 'k'), resp('PING')])]);
    assert.deepEqual(
      out.map((a) => a.map((b) => b.toString('hex'))),
      [
        ['SET', 'k', bin].map((x) => Buffer.from(x).toString('hex')),
        ['GET', 'k'].map((x) => Buffer.from(x).toString('hex')),
        ['PING'].map((x) => Buffer.from(x).toString('hex')),
      ],
    );
  });

  test('gives the same requests whatever the chunk boundaries', () => {
    const data = Buffer.concat([resp('SET', 'key', 'x'.repeat(300)), resp('MGET', 'a', 'b', '')]);
    const whole = parseAll([data]);
    for (let cut = 1; cut < data.length; cut++) {
      assert.deepEqual(parseAll([data.subarray(0, cut), data.subarray(cut)]), whole);
    }
    const bytes = [...data].map((b) => Buffer.from([b]));
    assert.deepEqual(parseAll(bytes), whole);
  });

  test('refuses a 1 GiB bulk header without allocating it', () => {
    const before = process.memoryUsage().arrayBuffers;
    assert.throws(
      () => parseAll([Buffer.from('*2\r\n$3\r\nSET\r\n$1073741824\r\n')]),
      refuses('Payload too big'),
    );
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
  });

  test('refuses negative sizes, bad numbers, non-arrays and missing CRLF', () => {
    assert.throws(
      () => parseAll([Buffer.from('*1\r\n$-5\r\n')]),
      refuses('Malformed query string'),
    );
    assert.throws(
      () => parseAll([Buffer.from('*-1\r\n')]),
      refuses('Malformed request, array expected'),
    );
    assert.throws(
      () => parseAll([Buffer.from('*x\r\n')]),
      refuses('Malformed request, array expected'),
    );
    assert.throws(
      () => parseAll([Buffer.from('PING\r\n')]),
      refuses('Malformed request, array expected'),
    );
    assert.throws(() => parseAll([Buffer.from('*1\r\n:4\r\n')]), refuses('Malformed query string'));
    assert.throws(
      () => parseAll([Buffer.from('*1\r\n$4\r\nPINGxx')]),
      refuses('Malformed query string'),
    );
    assert.throws(() => parseAll([Buffer.from('*0\r\n')]), refuses('Missing arguments'));
    assert.throws(
      () => parseAll([Buffer.from(`*${MAX_ARGS + 1}\r\n`)]),
      refuses('Too many arguments'),
    );
    assert.throws(
      () => parseAll([Buffer.from(`*1\r\n$${'9'.repeat(40)}\r\n`)]),
      refuses('Malformed query string'),
    );
  });

  test('refuses a header line that never ends', () => {
    assert.throws(
      () => parseAll([Buffer.from(`*${'1'.repeat(100)}`)]),
      refuses('Malformed request, array expected'),
    );
  });

  test('accepts the largest allowed request: MGET of 1023 keys', () => {
    const keys = Array.from({ length: MAX_ARGS - 1 }, (_, i) => `k${i}`);
    const out = parseAll([resp('MGET', ...keys)]);
    assert.equal(out[0]!.length, MAX_ARGS);
  });
});
