import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { resp, startTestZdb, tempDir } from './zdb-test-kit.ts';

/*
 * Big values take zdb's zero-copy paths: a SET value received in pieces is written to the
 * data file as those pieces (resp-parser.ts), a GET is framed in the buffer it was read
 * into (namespace-store.ts readValueReply), and the client reads it back as views
 * (reply-reader.ts). These tests check the bytes on every path, across restarts.
 */

/** Writes `data` in pieces of `size` bytes (each its own write), then collects `expect` bytes of reply. */
function exchangeInPieces(
  port: number,
  data: Buffer,
  size: number,
  expect: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const got: Buffer[] = [];
    let n = 0;
    socket.on('data', (c) => {
      got.push(c);
      n += c.length;
      if (n >= expect) {
        socket.destroy();
        resolve(Buffer.concat(got));
      }
    });
    socket.on('error', reject);
    socket.on('connect', async () => {
      for (let at = 0; at < data.length; at += size) {
        if (!socket.write(data.subarray(at, at + size)))
          await new Promise((r) => socket.once('drain', r));
        // let some pieces travel alone, so the server sees many chunk boundaries
        if ((at / size) % 64 === 0) await new Promise((r) => setImmediate(r));
      }
    });
  });
}

const framed = (v: Buffer) =>
  Buffer.concat([Buffer.from(`$${v.length}\r\n`), v, Buffer.from('\r\n')]);

describe('zdb server: big values', () => {
  test('pipelined big SETs sent in small pieces are stored whole and read back byte for byte', async (t) => {
    const dir = tempDir(t);
    const zdb = await startTestZdb(t, {}, dir);
    const a = randomBytes(1024 * 1024 + 3);
    const b = randomBytes(300 * 1024);
    for (const size of [1000, 4096, 65_536 + 7]) {
      const ka = `a-${size}`;
      const kb = `b-${size}`;
      const stream = Buffer.concat([resp('SET', ka, a), resp('SET', kb, b), resp('GET', ka)]);
      const expectReply = Buffer.concat([
        framed(Buffer.from(ka)),
        framed(Buffer.from(kb)),
        framed(a),
      ]);
      const reply = await exchangeInPieces(zdb.port, stream, size, expectReply.length);
      assert.ok(reply.equals(expectReply), `pieces of ${size}: replies and GET bytes exact`);
    }
    const c = await zdb.client();
    // the stored CRC is the whole value's: the same value again is "unchanged" (nil)
    assert.equal(await c.set('a-1000', a), null);
    assert.equal(await c.command('CHECK', 'a-4096'), 1);
    const parts = await c.getParts('a-65543');
    assert.ok(parts !== null && Buffer.concat(parts).equals(a));
    const both = (await c.command('MGET', 'a-1000', 'b-1000')) as Buffer[];
    assert.ok(both[0]!.equals(a) && both[1]!.equals(b));
    // and on disk: a fresh server over the same files reads the same bytes
    await zdb.server.close();
    const again = await startTestZdb(t, {}, dir);
    const c2 = await again.client();
    for (const size of [1000, 4096, 65_536 + 7]) {
      assert.ok((await c2.get(`a-${size}`))!.equals(a));
      assert.ok((await c2.get(`b-${size}`))!.equals(b));
    }
    assert.equal(await c2.getParts('missing'), null);
  });
});
