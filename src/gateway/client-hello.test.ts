import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { connect } from 'node:tls';
import { MAX_HELLO_BYTES, scanClientHello } from './client-hello.ts';

/** The first bytes a real TLS client (node's OpenSSL) sends. */
async function realHello(servername?: string): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const got = new Promise<Buffer>((resolve) =>
    server.once('connection', (s) => {
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
      });
    }),
  );
  const c = connect({
    port: (server.address() as AddressInfo).port,
    host: '127.0.0.1',
    ...(servername ? { servername } : {}),
  });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

test('reads the server name of a real ClientHello, byte by byte until complete', async () => {
  const hello = await realHello('Shop.GW.test');
  for (let n = 0; n < hello.length; n += 37)
    assert.equal(scanClientHello(hello.subarray(0, n)).state, 'more');
  assert.deepEqual(scanClientHello(hello), { state: 'done', serverName: 'shop.gw.test' });
});

test('a ClientHello without SNI has no server name', async () => {
  assert.deepEqual(scanClientHello(await realHello()), { state: 'done', serverName: undefined });
});

test('a ClientHello split over two records is joined', async () => {
  const hello = await realHello('a.gw.test');
  const body = hello.subarray(5);
  const rec = (b: Buffer) =>
    Buffer.concat([Buffer.from([22, 3, 1, b.length >> 8, b.length & 255]), b]);
  const split = Buffer.concat([rec(body.subarray(0, 40)), rec(body.subarray(40))]);
  assert.deepEqual(scanClientHello(split), { state: 'done', serverName: 'a.gw.test' });
});

test('refuses what is not a ClientHello, and bounds its size', () => {
  assert.equal(scanClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n')).state, 'invalid');
  assert.equal(scanClientHello(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0])).state, 'invalid');
  const huge = Buffer.from([22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]);
  assert.equal(scanClientHello(huge).state, 'invalid');
  assert.ok(MAX_HELLO_BYTES <= 16_384);
  // A server name with a byte outside DNS names is refused, not routed.
  const name = Buffer.from('a\x00.gw.test', 'latin1');
  const sni = Buffer.concat([
    Buffer.from([0, 0]),
    u16(name.length + 5),
    u16(name.length + 3),
    Buffer.from([0]),
    u16(name.length),
    name,
  ]);
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32),
    Buffer.from([0]),
    u16(2),
    Buffer.from([0x13, 0x01]),
    Buffer.from([1, 0]),
    u16(sni.length),
    sni,
  ]);
  const hs = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 255]), body]);
  const record = Buffer.concat([Buffer.from([22, 3, 1]), u16(hs.length), hs]);
  assert.equal(scanClientHello(record).state, 'invalid');
});

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
