import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { valueMayStaySplit } from './command-table.ts';
import {
  MAX_ARGS,
  MAX_REQUEST_BYTES,
  RespParser,
  RespProtocolError,
  SPLIT_MIN_BYTES,
  type SplitArg,
} from './resp-parser.ts';
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

  describe('big values handed over in the pieces they arrived in', () => {
    interface Parsed {
      args: Buffer[];
      split: SplitArg | undefined;
    }
    const splitting = (chunks: Buffer[]): Parsed[] => {
      const p = new RespParser(valueMayStaySplit);
      const out: Parsed[] = [];
      for (const c of chunks) p.feed(c, (args, split) => out.push({ args, split }));
      return out;
    };
    /** The value a request carries at `index`, whichever way it came. */
    const argValue = (r: Parsed, index: number): Buffer =>
      r.split?.index === index ? Buffer.concat(r.split.parts) : r.args[index]!;
    /** A header line cut by a chunk boundary is joined with at most this many following bytes. */
    const HEADER_JOIN = 34;
    /** Bytes of `pieces` that are not views of `chunks` (copies). */
    const copiedBytes = (pieces: readonly Buffer[], chunks: readonly Buffer[]) =>
      pieces
        .filter((p) => !chunks.some((c) => c.buffer === p.buffer))
        .reduce((n, p) => n + p.length, 0);
    const big = Buffer.alloc(SPLIT_MIN_BYTES + 100);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 9)) & 0xff;
    big.write('\r\n$3\r\n*2\r\n', 1000, 'latin1'); // RESP-looking bytes inside the value

    test('a SET value cut at every offset arrives as views, equal to what was sent', () => {
      const request = resp('SET', 'key', big);
      for (let cut = 1; cut < request.length; cut++) {
        const parts = [request.subarray(0, cut), request.subarray(cut)];
        const out = splitting(parts);
        assert.equal(out.length, 1, `cut ${cut}`);
        const r = out[0]!;
        assert.equal(r.args.length, 3);
        assert.equal(r.args[0]!.toString(), 'SET');
        assert.equal(r.args[1]!.toString(), 'key');
        // a value that arrived whole is one view; one that was cut comes as its pieces
        const valueStart = request.length - big.length - 2;
        if (cut > valueStart + HEADER_JOIN && cut < valueStart + big.length)
          assert.ok(r.split !== undefined, `cut ${cut} inside the value: it stays split`);
        if (r.split !== undefined) {
          assert.equal(r.split.index, 2);
          assert.equal(r.args[2]!.length, 0);
          assert.ok(
            copiedBytes(r.split.parts, parts) <= HEADER_JOIN,
            `cut ${cut}: pieces are views`,
          );
        }
        const got = argValue(r, 2);
        assert.equal(got.length, big.length, `cut ${cut}`);
        assert.ok(got.equals(big), `cut ${cut}`);
      }
    });

    test('a value sent one byte at a time, and in chunks of every size up to 17', () => {
      const request = resp('SETX', 'k', big);
      for (let size = 1; size <= 17; size++) {
        const chunks: Buffer[] = [];
        for (let at = 0; at < request.length; at += size)
          chunks.push(request.subarray(at, at + size));
        const out = splitting(chunks);
        assert.equal(out.length, 1);
        assert.equal(out[0]!.split?.index, 2, 'a value cut this small stays split');
        assert.ok(argValue(out[0]!, 2).equals(big), `chunks of ${size}`);
      }
    });

    test('pipelined SETs of big and small values and other commands, cut at many offsets', () => {
      const other = Buffer.from(big).reverse();
      const stream = Buffer.concat([
        resp('SET', 'a', big),
        resp('GET', 'a'),
        resp('SET', 'b', 'small'),
        resp('SET', 'c', other),
        resp('PING'),
      ]);
      const expect = [
        ['SET', 'a', big],
        ['GET', 'a'],
        ['SET', 'b', 'small'],
        ['SET', 'c', other],
        ['PING'],
      ].map((a) => a.map((x) => Buffer.from(x).toString('hex')));
      for (let cut = 1; cut < stream.length; cut += 997) {
        for (const step of [cut, 4096 + cut]) {
          const chunks = [stream.subarray(0, cut)];
          for (let at = cut; at < stream.length; at += step)
            chunks.push(stream.subarray(at, at + step));
          const out = splitting(chunks);
          assert.deepEqual(
            out.map((r) => r.args.map((_, i) => argValue(r, i).toString('hex'))),
            expect,
            `cut ${cut}, step ${step}`,
          );
        }
      }
    });

    test('only SET and SETX values stay split: other big arguments arrive joined', () => {
      const request = resp('MGET', big, 'k');
      const out = splitting([request.subarray(0, 1000), request.subarray(1000)]);
      assert.equal(out[0]!.split, undefined);
      assert.ok(out[0]!.args[1]!.equals(big));
      // a value below the threshold is joined too (few pieces, cheap copy)
      const small = Buffer.alloc(SPLIT_MIN_BYTES - 1, 3);
      const r2 = splitting([
        resp('SET', 'k', small).subarray(0, 100),
        resp('SET', 'k', small).subarray(100),
      ]);
      assert.equal(r2[0]!.split, undefined);
      assert.ok(r2[0]!.args[2]!.equals(small));
      // and without a splitting rule, nothing is split
      assert.equal(parseAll([request.subarray(0, 1000), request.subarray(1000)]).length, 1);
    });

    test('refuses a split value not followed by CRLF, wherever the chunks are cut', () => {
      const request = resp('SET', 'k', big);
      const bad = Buffer.from(request);
      bad[bad.length - 2] = 0x41; // the CR after the value
      for (const cut of [50, bad.length - 3, bad.length - 2, bad.length - 1]) {
        assert.throws(
          () => splitting([bad.subarray(0, cut), bad.subarray(cut)]),
          refuses('Malformed query string'),
          `cut ${cut}`,
        );
      }
    });

    test('refuses an oversize value before receiving it, split or not', () => {
      const header = Buffer.from(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${MAX_REQUEST_BYTES}\r\n`);
      for (let cut = 1; cut < header.length; cut++)
        assert.throws(
          () => splitting([header.subarray(0, cut), header.subarray(cut)]),
          refuses('Payload too big'),
        );
    });

    test('a header line cut by a chunk boundary is joined with only the bytes it needs', () => {
      // the second chunk holds the rest of a header and a big value: parsing must not copy it
      const request = resp('SET', 'key', big);
      const cut = request.indexOf('$3') + 1;
      const second = request.subarray(cut);
      const out = splitting([request.subarray(0, cut), second]);
      assert.ok(argValue(out[0]!, 2).equals(big));
      const pieces = out[0]!.split?.parts ?? [];
      assert.ok(pieces.length > 0 && copiedBytes(pieces, [second]) <= HEADER_JOIN);
    });
  });
});
