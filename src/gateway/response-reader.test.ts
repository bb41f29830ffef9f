import assert from 'node:assert/strict';
import test from 'node:test';
import { VdcError } from '../core/errors.ts';
import { MAX_RESPONSE_HEAD, ResponseReader } from './response-reader.ts';

interface Seen {
  status?: number;
  headers?: string[];
  body: string;
  pieces: number;
  last: boolean;
}

type Read = { r: ResponseReader; seen: Seen };

function reader(method = 'GET'): Read {
  const seen: Seen = { body: '', pieces: 0, last: false };
  const r = new ResponseReader(method, {
    head(status, headers) {
      seen.status = status;
      seen.headers = headers;
    },
    body(chunk, last) {
      seen.body += chunk.toString('latin1');
      seen.pieces++;
      seen.last = last;
    },
  });
  return { r, seen };
}

/** Feeds `text` whole and byte by byte: both must read the same. */
function read(text: string, method = 'GET'): [Read, Read] {
  const whole = reader(method);
  whole.r.push(Buffer.from(text, 'latin1'));
  const bytes = reader(method);
  for (let i = 0; i < text.length; i++) bytes.r.push(Buffer.from(text[i]!, 'latin1'));
  return [whole, bytes];
}

const refused = (fn: () => void) =>
  assert.throws(
    fn,
    (e: unknown) => e instanceof VdcError && e.code === 'UPSTREAM_RESPONSE_INVALID',
  );

test('a Content-Length answer is read whole, in one piece when it came in one read', () => {
  const text = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';
  const [whole, bytes] = read(text);
  for (const { r, seen } of [whole, bytes]) {
    assert.equal(seen.status, 200);
    assert.deepEqual(seen.headers, ['Content-Type', 'text/plain', 'Content-Length', '5']);
    assert.equal(seen.body, 'hello');
    assert.equal(seen.last, true);
    assert.equal(r.reusable, true);
  }
  assert.equal(whole.seen.pieces, 1, 'head and body in one read: one piece');
});

test('a chunked answer is de-chunked; extensions and trailers are read and dropped', () => {
  const text =
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n';
  for (const { r, seen } of read(text)) {
    assert.equal(seen.body, 'hello!');
    assert.equal(seen.last, true);
    assert.equal(r.reusable, true);
  }
});

test('answers without a body: HEAD, 204, 304, and interim 1xx answers dropped', () => {
  // A bodiless answer whose head declares a body is done at its head, and its connection
  // is not reused: a backend that sends the body anyway would answer the next request.
  for (const { r, seen } of read('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 'HEAD')) {
    assert.deepEqual([seen.status, seen.body, seen.last, r.reusable], [200, '', true, false]);
  }
  assert.equal(read('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 'HEAD')[0].r.reusable, true);
  for (const code of [204, 304]) {
    const [{ seen }] = read(`HTTP/1.1 ${code} X\r\n\r\n`);
    assert.deepEqual([seen.status, seen.last], [code, true]);
  }
  const text =
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok';
  for (const { seen } of read(text)) assert.deepEqual([seen.status, seen.body], [201, 'ok']);
});

test('an answer framed by the close ends with the connection and is never reused', () => {
  const { r, seen } = reader();
  r.push(Buffer.from('HTTP/1.1 200 OK\r\n\r\nstream'));
  assert.equal(seen.last, false, 'the head is handed on before the end');
  r.push(Buffer.from('ed'));
  r.end();
  assert.deepEqual([seen.body, seen.last, r.reusable], ['streamed', true, false]);
  for (const close of [
    'HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n',
  ]) {
    const [{ r: c }] = read(close);
    assert.deepEqual([c.done, c.reusable], [true, false]);
  }
});

test('malformed or ambiguous answers are refused before anything of them is handed on', () => {
  const bad: Record<string, string> = {
    'Transfer-Encoding with Content-Length':
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
    'two Content-Lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx',
    'a Content-Length list': 'HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx',
    'a negative Content-Length': 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n',
    'two Transfer-Encodings':
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n',
    'a coding other than chunked': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
    'a bad status line': 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n',
    'another protocol': 'HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n',
    'obsolete folding': 'HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n',
    'a space before the colon': 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n',
    'a control byte': 'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n',
    'a vertical tab around a length': 'HTTP/1.1 200 OK\r\nContent-Length: \x0b5\r\n\r\nhello',
    'a no-break space after a length': 'HTTP/1.1 200 OK\r\nContent-Length: 5\xa0\r\n\r\nhello',
    'a bad length on a bodiless answer': 'HTTP/1.1 304 Not Modified\r\nContent-Length: abc\r\n\r\n',
    'two lengths on a bodiless answer':
      'HTTP/1.1 204 OK\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n',
    'a bare LF': 'HTTP/1.1 200 OK\nX-A: b\r\nContent-Length: 0\r\n\r\n',
    'an unasked upgrade': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n',
    'too many interim answers': 'HTTP/1.1 100 Continue\r\n\r\n'.repeat(9),
  };
  for (const [why, text] of Object.entries(bad)) {
    const { r, seen } = reader();
    refused(() => r.push(Buffer.from(text, 'latin1')));
    assert.equal(seen.status, undefined, `${why}: nothing handed on`);
  }
});

test('bad bodies, extra bytes, an oversized head and a cut answer are refused', () => {
  const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  for (const text of [
    `${chunked}zz\r\nx\r\n0\r\n\r\n`,
    `${chunked}1\r\nxy\r\n0\r\n\r\n`,
    `${chunked}1234567890abc\r\n`,
    `${chunked}0\r\nbad trailer\r\n\r\n`,
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
  ])
    refused(() => reader().r.push(Buffer.from(text)));
  refused(() =>
    reader().r.push(Buffer.from(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(MAX_RESPONSE_HEAD)}`)),
  );
  const { r } = reader();
  r.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort'));
  refused(() => r.end());
  assert.equal(r.done, false);
});

test('a head sent a byte at a time is read once; heads of one answer share the 64 KiB cap', () => {
  const big = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(60_000)}\r\nContent-Length: 2\r\n\r\nok`;
  const [, bytes] = read(big);
  assert.deepEqual([bytes.seen.status, bytes.seen.body, bytes.r.reusable], [200, 'ok', true]);
  // Eight interim heads of 40 KiB: each under the cap, together over it.
  const interim = `HTTP/1.1 103 Early Hints\r\nLink: ${'b'.repeat(40_000)}\r\n\r\n`;
  const { r, seen } = reader();
  refused(() => {
    for (let i = 0; i < 8; i++) r.push(Buffer.from(interim));
  });
  assert.equal(seen.status, undefined);
});

test('the 64 KiB cap is the same however the head was split', () => {
  // A head of exactly 64 KiB up to its line end, and one byte more.
  const head = (extra: number) => {
    const start = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: ';
    return `${start}${'p'.repeat(MAX_RESPONSE_HEAD - start.length + extra)}\r\n\r\n`;
  };
  for (const { r } of read(head(0))) assert.equal(r.done, true);
  for (const split of [1, 2, 3, 1000]) {
    const text = Buffer.from(head(0));
    const { r } = reader();
    for (let i = 0; i < text.length; i += split) r.push(text.subarray(i, i + split));
    assert.equal(r.done, true, `pushed ${split} bytes at a time`);
    refused(() => {
      const over = Buffer.from(head(1));
      const { r: o } = reader();
      for (let i = 0; i < over.length; i += split) o.push(over.subarray(i, i + split));
    });
  }
});

test('every way of cutting an answer into three reads reads the same as one read', () => {
  const answers = [
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\n\r\n\r\n0\r\nT: v\r\n\r\n',
    'HTTP/1.1 204 No Content\r\nETag: "x"\r\n\r\n',
  ];
  for (const text of answers) {
    const bytes = Buffer.from(text, 'latin1');
    const [whole] = read(text);
    const want = [whole.seen.status, whole.seen.body, whole.seen.last, whole.r.reusable];
    for (let i = 1; i < bytes.length; i++)
      for (let j = i; j < bytes.length; j++) {
        const { r, seen } = reader();
        for (const piece of [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)])
          r.push(piece); // an empty piece included: it changes nothing
        assert.deepEqual(
          [seen.status, seen.body, seen.last, r.reusable],
          want,
          `cut at ${i}, ${j}`,
        );
      }
  }
});
