import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { type TestContext, test } from 'node:test';
import { DOMAIN, startGatewayGrid } from '../../src/gateway/gateway-test-kit.ts';
import { waitFor } from '../support/node-fixture.ts';

/*
 * http mode against a scripted target (raw TCP behind a real tunnel): answers that come
 * early, late or in pieces, and what the client and the target each see.
 */

interface Target {
  port: number;
  sockets: Socket[];
}

async function scripted(
  t: TestContext,
  onData: (s: Socket, text: string) => void,
): Promise<Target> {
  const target: Target = { port: 0, sockets: [] };
  const server = createServer((s) => {
    target.sockets.push(s);
    s.on('data', (d) => onData(s, d.toString('latin1')));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of target.sockets) s.destroy();
    server.close();
  });
  target.port = (server.address() as AddressInfo).port;
  return target;
}

async function gatewayTo(t: TestContext, target: Target, rules = {}): Promise<number> {
  const g = await startGatewayGrid(t);
  await g.registerName(g.user, 'app', 'http', rules);
  g.tunnel(g.user, 'app', target.port);
  await waitFor('the tunnel', () => g.gateway.pool.count('app') === 1);
  return g.gateway.httpPort;
}

/** Opens a client connection; `got()` is what arrived so far, `closed` when it closed. */
function client(port: number): { socket: Socket; got: () => string; closed: Promise<void> } {
  const socket = connect(port, '127.0.0.1');
  let got = '';
  socket.on('data', (d) => {
    got += d.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  return { socket, got: () => got, closed };
}

const host = `app.${DOMAIN}`;

test('an answer before the upload is all sent reaches the client; the rest is dropped and the connection goes on', async (t) => {
  // A target that answers 413 without reading the upload.
  const target = await scripted(t, (s, text) => {
    if (text.startsWith('POST')) {
      s.pause();
      s.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 5\r\n\r\nearly');
    } else if (text.startsWith('GET'))
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond');
  });
  const port = await gatewayTo(t, target);
  const c = client(port);
  t.after(() => c.socket.destroy());
  // A client that uploads for a while before it reads anything, as one sending a file does.
  c.socket.pause();
  const size = 8 * 1024 * 1024;
  c.socket.write(`POST /up HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${size}\r\n\r\n`);
  c.socket.write(Buffer.alloc(size, 0x61));
  c.socket.write(`GET /second HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  await new Promise((r) => setTimeout(r, 500));
  c.socket.resume();
  // Before: the upload stayed paused and the connection hung; then, closing it at once
  // reset it under a client that had not read its answer yet.
  await waitFor('both answers', () => c.got().includes('second'));
  assert.match(
    c.got(),
    /^HTTP\/1\.1 413 [\s\S]*\r\n\r\nearlyHTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nsecond$/,
  );
});

test('a request past its deadline gets 504 and its target connection is closed', async (t) => {
  const target = await scripted(t, () => {}); // never answers
  const port = await gatewayTo(t, target, { timeouts: { requestMs: 300 } });
  const c = client(port);
  c.socket.write(`GET /hang HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  await c.closed;
  assert.match(c.got(), /^HTTP\/1\.1 504 /);
  // The late answer has nowhere to go: the connection that would carry it is not kept.
  await waitFor('the target connection closed', () =>
    target.sockets.every((s) => s.destroyed || s.readableEnded),
  );
});

test('a head alone (server-sent events) reaches the client at once, its bytes as sent', async (t) => {
  let stream: Socket | undefined;
  const cafe = Buffer.from('X-Name: café\r\n'); // UTF-8 bytes, sent on as they are
  const target = await scripted(t, (s) => {
    stream = s;
    s.write(
      Buffer.concat([
        Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n'),
        cafe,
        Buffer.from('Transfer-Encoding: chunked\r\n\r\n'),
      ]),
    );
  });
  const port = await gatewayTo(t, target);
  const c = client(port);
  t.after(() => c.socket.destroy());
  c.socket.write(`GET /events HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  await waitFor('the head', () => /\r\n\r\n/.test(c.got()));
  assert.match(c.got(), /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(c.got(), /content-type: text\/event-stream/i);
  assert.ok(Buffer.from(c.got(), 'latin1').includes(cafe), 'the header bytes changed');
  stream!.write('d\r\ndata: one\n\n\r\n');
  await waitFor('the first event', () => c.got().includes('data: one'));
});
