import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { parseAddress, ZdbShardBackend } from './zdb-backend.ts';
import { startZdbNodes } from './zdb-backend-test-kit.ts';

const code = (c: string) => (err: unknown) => err instanceof VdcError && err.code === c;

/** A loopback TCP proxy that records every byte the client sends. */
async function recordingProxy(
  t: { after(fn: () => unknown): void },
  port: number,
): Promise<{ port: number; sent: Buffer[] }> {
  const sent: Buffer[] = [];
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = netConnect(port, '127.0.0.1');
    sockets.push(client, upstream);
    client.on('data', (d: Buffer) => {
      sent.push(Buffer.from(d));
      upstream.write(d);
    });
    upstream.on('data', (d) => client.write(d));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as { port: number }).port, sent };
}

describe('ZdbShardBackend over a real zdb', () => {
  test('stores, reads, tests and deletes binary keys and values', async (t) => {
    const [z] = await startZdbNodes(t, 1);
    const b = new ZdbShardBackend(z!.backend);
    t.after(() => b.close());
    assert.equal(b.id, `${z!.backend.address}/zstor`);
    assert.equal(b.node, 'node0');
    const key = randomBytes(32);
    const value = randomBytes(100_000);
    assert.equal(await b.get(key), undefined);
    assert.equal(await b.exists(key), false);
    await b.put(key, [value.subarray(0, 77), value.subarray(77)]);
    assert.deepEqual(Buffer.from((await b.get(key))!), value);
    assert.equal(await b.exists(key), true);
    await b.put(key, [Buffer.from('replaced')]);
    assert.equal(Buffer.from((await b.get(key))!).toString(), 'replaced');
    assert.equal(await b.delete(key), true);
    assert.equal(await b.delete(key), false);
    assert.equal(await b.get(key), undefined);
    const empty = await b.get(Buffer.alloc(32)); // all-zero key is just a key
    assert.equal(empty, undefined);
  });

  test('lists every key with SCAN, across several replies, without deleted ones', async (t) => {
    const [z] = await startZdbNodes(t, 1);
    const b = new ZdbShardBackend(z!.backend);
    t.after(() => b.close());
    const keys = Array.from({ length: 300 }, () => randomBytes(32));
    await Promise.all(keys.map((k) => b.put(k, [k])));
    await b.delete(keys[7]!);
    await b.put(keys[8]!, [Buffer.from('rewritten')]);
    const listed: string[] = [];
    for await (const k of b.keys()) listed.push(Buffer.from(k).toString('hex'));
    const expected = keys.filter((_, i) => i !== 7).map((k) => k.toString('hex'));
    assert.deepEqual(listed.sort(), expected.sort());
  });

  test('proves the password by challenge: it never crosses the wire', async (t) => {
    const [z] = await startZdbNodes(t, 1);
    const proxy = await recordingProxy(t, z!.port);
    const b = new ZdbShardBackend({ ...z!.backend, address: `127.0.0.1:${proxy.port}` });
    t.after(() => b.close());
    await b.put(Buffer.alloc(32, 1), [Buffer.from('v')]);
    assert.equal(Buffer.from((await b.get(Buffer.alloc(32, 1)))!).toString(), 'v');
    const wire = Buffer.concat(proxy.sent).toString('latin1');
    assert.match(wire, /AUTH\r\n\$6\r\nSECURE\r\n\$9\r\nCHALLENGE/);
    assert.match(wire, /SELECT\r\n\$5\r\nzstor\r\n\$6\r\nSECURE\r\n\$40\r\n[0-9a-f]{40}/);
    assert.equal(wire.includes(z!.backend.password), false);
  });

  test('a wrong password is refused with ZSTOR_BACKEND_REFUSED naming the backend', async (t) => {
    const [z] = await startZdbNodes(t, 1);
    const b = new ZdbShardBackend({ ...z!.backend, password: 'not the password' });
    t.after(() => b.close());
    await assert.rejects(b.get(Buffer.alloc(32)), (err: unknown) => {
      assert.ok(code('ZSTOR_BACKEND_REFUSED')(err));
      assert.match((err as Error).message, new RegExp(`${b.id}.*node0.*Access denied`));
      return true;
    });
  });

  test('a stopped zdb is reported unavailable by name; it is used again once back', async (t) => {
    const [z] = await startZdbNodes(t, 1);
    const b = new ZdbShardBackend(z!.backend);
    t.after(() => b.close());
    const key = randomBytes(32);
    await b.put(key, [Buffer.from('before')]);
    await z!.stop();
    for (const call of [() => b.get(key), () => b.put(key, [Buffer.from('x')])])
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(code('ZSTOR_BACKEND_UNAVAILABLE')(err));
        assert.match((err as Error).message, new RegExp(`backend ${b.id} \\(node node0\\)`));
        return true;
      });
    await z!.start();
    assert.equal(Buffer.from((await b.get(key))!).toString(), 'before');
  });

  test('a zdb that accepts connections but never answers fails the call as unavailable', async (t) => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    t.after(() => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    const port = (silent.address() as { port: number }).port;
    const b = new ZdbShardBackend({
      address: `127.0.0.1:${port}`,
      namespace: 'ns',
      password: 'pw',
      node: 'n',
      timeoutMs: 200,
    });
    t.after(() => b.close());
    await assert.rejects(b.get(Buffer.alloc(32)), (err: unknown) => {
      assert.ok(code('ZSTOR_BACKEND_UNAVAILABLE')(err));
      assert.match((err as Error).message, /does not answer \(GET\): no answer within 200 ms/);
      return true;
    });
  });

  test('addresses are HOST:PORT or [IPv6]:PORT', () => {
    assert.deepEqual(parseAddress('127.0.0.1:9900'), { host: '127.0.0.1', port: 9900 });
    assert.deepEqual(parseAddress('[::1]:9900'), { host: '::1', port: 9900 });
    assert.deepEqual(parseAddress('zdb.example:1'), { host: 'zdb.example', port: 1 });
    for (const bad of ['127.0.0.1', ':9900', '::1:9900', 'h:0', 'h:70000', 'h :1', ''])
      assert.throws(() => parseAddress(bad), code('ZSTOR_CONFIG_INVALID'), bad);
  });
});
