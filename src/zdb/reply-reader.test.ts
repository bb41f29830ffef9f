import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { BIG_BULK_BYTES, BulkParts, ReplyReader, type ZdbReply } from './reply-reader.ts';

type Read = ZdbReply | BulkParts | VdcError;

/** Feeds `chunks` and reads every reply; `wantParts(i)` says whether reply i is taken as pieces. */
function readAll(chunks: readonly Buffer[], wantParts: (i: number) => boolean = () => false) {
  const reader = new ReplyReader();
  const out: Read[] = [];
  for (const c of chunks) {
    reader.push(c);
    for (let r = reader.next(wantParts(out.length)); r; r = reader.next(wantParts(out.length)))
      out.push(r.value);
  }
  return out;
}

const bulk = (b: Buffer) =>
  Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n')]);
const joined = (v: Read) => (v instanceof BulkParts ? Buffer.concat(v.parts) : v);

const big = Buffer.alloc(BIG_BULK_BYTES + 333);
for (let i = 0; i < big.length; i++) big[i] = (i * 13 + (i >> 8)) & 0xff;
big.write('\r\n$5\r\n', 77, 'latin1'); // reply-looking bytes inside the value

describe('zdb client reply reader', () => {
  test('a big bulk reply cut at every offset reads back equal, as one buffer or as views', () => {
    const stream = bulk(big);
    for (let cut = 1; cut < stream.length; cut++) {
      const chunks = [stream.subarray(0, cut), stream.subarray(cut)];
      const whole = readAll(chunks);
      assert.equal(whole.length, 1);
      assert.ok(Buffer.isBuffer(whole[0]) && whole[0].equals(big), `cut ${cut}`);
      const parts = readAll(chunks, () => true);
      assert.ok(parts[0] instanceof BulkParts, `cut ${cut}`);
      assert.ok(Buffer.concat(parts[0].parts).equals(big), `cut ${cut}`);
      // the pieces are views of what was received (no copy) once the body started
      if (cut > 40)
        for (const p of parts[0].parts)
          assert.ok(
            chunks.some((c) => c.buffer === p.buffer),
            `cut ${cut}: a view`,
          );
    }
  });

  test('pipelined replies of every kind, in chunks of many sizes, read back in order', () => {
    const small = Buffer.from('hello\r\nworld');
    const stream = Buffer.concat([
      Buffer.from('+OK\r\n'),
      bulk(big),
      Buffer.from(':42\r\n'),
      bulk(small),
      Buffer.from('$-1\r\n'),
      Buffer.from('-Key not found\r\n'),
      Buffer.from('*2\r\n$1\r\na\r\n:7\r\n'),
      bulk(Buffer.from(big).reverse()),
      bulk(Buffer.alloc(0)),
    ]);
    for (const size of [1, 2, 3, 7, 1000, 4096, 65536, stream.length]) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < stream.length; at += size) chunks.push(stream.subarray(at, at + size));
      for (const parts of [false, true]) {
        const out = readAll(chunks, (i) => parts && (i === 1 || i === 3 || i === 7 || i === 8));
        assert.equal(out.length, 9, `size ${size}`);
        assert.equal(out[0], 'OK');
        assert.ok((joined(out[1]!) as Buffer).equals(big));
        assert.equal(out[2], 42);
        assert.ok((joined(out[3]!) as Buffer).equals(small));
        assert.equal(out[4], null);
        assert.ok(out[5] instanceof VdcError && out[5].message === 'Key not found');
        assert.deepEqual(out[6], [Buffer.from('a'), 7]);
        assert.ok((joined(out[7]!) as Buffer).equals(Buffer.from(big).reverse()));
        assert.equal((joined(out[8]!) as Buffer).length, 0);
        if (parts) assert.ok(out[3] instanceof BulkParts && out[8] instanceof BulkParts);
        else assert.ok(Buffer.isBuffer(out[1]) && Buffer.isBuffer(out[7]));
      }
    }
  });

  test('refuses a big bulk not followed by CRLF, and a bad length', () => {
    const bad = bulk(big);
    bad[bad.length - 1] = 0x41;
    for (const cut of [10, bad.length - 2, bad.length - 1])
      assert.throws(
        () => readAll([bad.subarray(0, cut), bad.subarray(cut)]),
        (e: unknown) => e instanceof VdcError && e.code === 'ZDB_PROTOCOL',
      );
    assert.throws(
      () => readAll([Buffer.from('$abc\r\n')]),
      (e: unknown) => e instanceof VdcError && e.code === 'ZDB_PROTOCOL',
    );
    assert.throws(
      () => readAll([Buffer.from(`$${128 * 1024 * 1024}\r\n`)]),
      (e: unknown) => e instanceof VdcError && e.code === 'ZDB_PROTOCOL',
    );
  });
});
