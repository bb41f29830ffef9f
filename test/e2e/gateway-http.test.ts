import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { DOMAIN, startEchoBackend, startGatewayGrid } from '../../src/gateway/gateway-test-kit.ts';
import { waitFor } from '../support/node-fixture.ts';
import { requireCommand } from '../support/requirements.ts';

const run = promisify(execFile);

/** curl through the gateway's HTTP port, resolving NAME.DOMAIN to loopback. */
async function curl(port: number, name: string, path = '/', extra: string[] = []) {
  const host = `${name}.${DOMAIN}`;
  const { stdout } = await run('curl', [
    '-sS',
    '--resolve',
    `${host}:${port}:127.0.0.1`,
    '-w',
    '\n%{http_code}',
    ...extra,
    `http://${host}:${port}${path}`,
  ]);
  const at = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) };
}

test('curl reaches a backend behind a tunnel through the gateway in http mode', async (t) => {
  if (!requireCommand(t, 'curl')) return;
  const grid = await startGatewayGrid(t);
  const backend = await startEchoBackend(t);
  await grid.registerName(grid.user, 'shop', 'http');
  const tunnel = grid.tunnel(grid.user, 'shop', backend.port);
  await waitFor('the tunnel', () => grid.gateway.pool.count('shop') === 1);
  await waitFor('the client to see it open', () => tunnel.connects === 1);
  const got = await curl(grid.gateway.httpPort, 'shop', '/a/b?c=1', [
    '-H',
    'X-Forwarded-For: 6.6.6.6',
    '-H',
    'Connection: keep-alive, X-Secret',
    '-H',
    'X-Secret: hop',
    '-d',
    'payload',
  ]);
  assert.equal(got.status, 200, got.body);
  const seen = JSON.parse(got.body) as {
    method: string;
    url: string;
    body: string;
    headers: Record<string, string>;
  };
  assert.equal(seen.method, 'POST');
  assert.equal(seen.url, '/a/b?c=1');
  assert.equal(seen.body, 'payload');
  assert.equal(seen.headers['host'], `shop.${DOMAIN}:${grid.gateway.httpPort}`);
  assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'the client-sent value is replaced');
  assert.equal(
    seen.headers['forwarded'],
    `for=127.0.0.1;host="shop.${DOMAIN}:${grid.gateway.httpPort}";proto=http`,
  );
  assert.equal(seen.headers['x-secret'], undefined, 'a header Connection names is hop-by-hop');
});

test('several backends for one name are balanced and a dead one is dropped at once', async (t) => {
  if (!requireCommand(t, 'curl')) return;
  const grid = await startGatewayGrid(t);
  const a = await startEchoBackend(t, 'a');
  const b = await startEchoBackend(t, 'b');
  await grid.registerName(grid.user, 'pair', 'http');
  const ta = grid.tunnel(grid.user, 'pair', a.port);
  grid.tunnel(grid.user, 'pair', b.port);
  await waitFor('two tunnels', () => grid.gateway.pool.count('pair') === 2);
  const froms = new Set<string>();
  for (let i = 0; i < 4; i++)
    froms.add(
      (JSON.parse((await curl(grid.gateway.httpPort, 'pair')).body) as { from: string }).from,
    );
  assert.deepEqual([...froms].sort(), ['a', 'b']);
  ta.stop();
  await waitFor('one tunnel', () => grid.gateway.pool.count('pair') === 1);
  for (let i = 0; i < 4; i++) {
    const got = await curl(grid.gateway.httpPort, 'pair');
    assert.equal(got.status, 200);
    assert.equal((JSON.parse(got.body) as { from: string }).from, 'b');
  }
});

test('a WebSocket client talks to a backend through the gateway in http mode', async (t) => {
  const grid = await startGatewayGrid(t);
  const backend = await startEchoBackend(t);
  const wss = new WebSocketServer({ server: backend.server });
  wss.on('connection', (ws, req) => {
    ws.send(`xff ${req.headers['x-forwarded-for']}`);
    ws.on('message', (m) => ws.send(`echo ${String(m)}`));
  });
  t.after(() => wss.close());
  await grid.registerName(grid.user, 'chat', 'http');
  grid.tunnel(grid.user, 'chat', backend.port);
  await waitFor('the tunnel', () => grid.gateway.pool.count('chat') === 1);
  const ws = new WebSocket(`ws://127.0.0.1:${grid.gateway.httpPort}/room`, {
    headers: { host: `chat.${DOMAIN}` },
  });
  const messages: string[] = [];
  ws.on('message', (m) => messages.push(String(m)));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send('one');
  ws.send('two');
  await waitFor('three messages', () => messages.length === 3);
  ws.close();
  assert.deepEqual(messages, ['xff 127.0.0.1', 'echo one', 'echo two']);
});

test('a streamed answer reaches the client as it is sent, and a large body arrives whole', async (t) => {
  const grid = await startGatewayGrid(t);
  let release: () => void = () => {};
  const released = new Promise<void>((r) => {
    release = r;
  });
  const big = Buffer.alloc(3 * 1024 * 1024, 'x');
  const backend = createServer((req, res) => {
    if (req.url === '/big') {
      res.writeHead(200, { 'content-length': big.length });
      return void res.end(big);
    }
    // Server-sent events: the second event is sent only after the client saw the first.
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: one\n\n');
    void released.then(() => res.end('data: two\n\n'));
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  t.after(() => {
    backend.closeAllConnections();
    backend.close();
  });
  await grid.registerName(grid.user, 'feed', 'http');
  grid.tunnel(grid.user, 'feed', (backend.address() as AddressInfo).port);
  await waitFor('the tunnel', () => grid.gateway.pool.count('feed') === 1);
  const get = (path: string, onData: (chunk: Buffer) => void) =>
    new Promise<number>((resolve, reject) => {
      const r = request(
        {
          port: grid.gateway.httpPort,
          host: '127.0.0.1',
          path,
          headers: { host: `feed.${DOMAIN}` },
        },
        (res) => {
          res.on('data', onData);
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      r.on('error', reject);
      r.end();
    });
  let events = '';
  const status = await get('/events', (chunk) => {
    events += chunk;
    if (events === 'data: one\n\n') release();
  });
  assert.equal(status, 200);
  assert.equal(events, 'data: one\n\ndata: two\n\n');
  let size = 0;
  assert.equal(await get('/big', (chunk) => (size += chunk.length)), 200);
  assert.equal(size, big.length);
});

test('kept-alive backend connections: one the backend closed is not reused; chunked bodies stay framed', async (t) => {
  if (!requireCommand(t, 'curl')) return;
  const grid = await startGatewayGrid(t);
  const backend = await startEchoBackend(t);
  let connections = 0;
  backend.server.on('connection', () => connections++);
  // The backend drops idle connections quickly, as servers do after their keep-alive timeout.
  backend.server.keepAliveTimeout = 100;
  await grid.registerName(grid.user, 'kept', 'http');
  grid.tunnel(grid.user, 'kept', backend.port);
  await waitFor('the tunnel', () => grid.gateway.pool.count('kept') === 1);
  const first = await curl(grid.gateway.httpPort, 'kept', '/one');
  const second = await curl(grid.gateway.httpPort, 'kept', '/two');
  assert.deepEqual([first.status, second.status], [200, 200]);
  assert.equal(connections, 1, 'the second request reused the kept-alive connection');
  await new Promise((r) => setTimeout(r, 1_600)); // node adds a 1 s buffer to the timeout
  const third = await curl(grid.gateway.httpPort, 'kept', '/three', ['--max-time', '20']);
  assert.equal(third.status, 200, 'a new connection replaced the one the backend closed');
  assert.equal((JSON.parse(third.body) as { url: string }).url, '/three');
  assert.equal(connections, 2);
  // A chunked request body (any method) reaches the backend whole and framed.
  const chunked = await curl(grid.gateway.httpPort, 'kept', '/c', [
    '-X',
    'DELETE',
    '-H',
    'Transfer-Encoding: chunked',
    '--data-binary',
    'chunked payload',
  ]);
  assert.equal(chunked.status, 200, chunked.body);
  const seen = JSON.parse(chunked.body) as { method: string; body: string };
  assert.deepEqual([seen.method, seen.body], ['DELETE', 'chunked payload']);
  const after = await curl(grid.gateway.httpPort, 'kept', '/after');
  assert.equal(
    (JSON.parse(after.body) as { url: string }).url,
    '/after',
    'the connection is in step',
  );
});
