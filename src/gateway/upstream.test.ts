import assert from 'node:assert/strict';
import { type ClientHttp2Stream, connect as h2connect, createServer as h2server } from 'node:http2';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { type TestContext, test } from 'node:test';
import type { VdcError } from '../core/errors.ts';
import { streamForwarder } from './tunnel-forward.ts';
import { Upstream, type UpstreamRequest } from './upstream.ts';

/*
 * The gateway's HTTP/1.1 over kept-alive CONNECT streams, against a scripted target behind
 * a real HTTP/2 session and the tunnel client's own forwarder: what reaches the target, when
 * a connection is reused, and what a misbehaving target can and cannot do.
 */

interface Target {
  /** every connection's bytes as received */
  received: string[];
  connections: number;
}

/**
 * A target answering each request with `answer`: `n` counts requests on the connection,
 * `all` on every connection.
 */
async function tunnelTo(
  t: TestContext,
  answer: (socket: Socket, n: number, text: string, all: number) => void,
  o: ConstructorParameters<typeof Upstream>[1] = {},
): Promise<{ upstream: Upstream; target: Target }> {
  const target: Target = { received: [], connections: 0 };
  let all = 0;
  const server = createServer((socket) => {
    const i = target.connections++;
    target.received[i] = '';
    let n = 0;
    socket.on('data', (d) => {
      target.received[i] += d.toString('latin1');
      // A request is answered once its head (and any body, for these tests) is in.
      if (/\r\n\r\n/.test(d.toString('latin1'))) answer(socket, n++, target.received[i]!, all++);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const forward = streamForwarder({
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
  });
  const h2 = h2server();
  h2.on('stream', (stream, headers) => forward.serve(stream, headers));
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  const session = h2connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`);
  t.after(() => {
    session.destroy();
    forward.close();
    h2.close();
    server.close();
  });
  const open = () =>
    new Promise<ClientHttp2Stream>((resolve, reject) => {
      const stream = session.request({ ':method': 'CONNECT', ':authority': 'x:0' });
      stream.once('response', (h) =>
        h[':status'] === 200 ? resolve(stream) : reject(new Error('refused')),
      );
      stream.once('error', reject);
    });
  return { upstream: new Upstream(open, o), target };
}

interface Result {
  status?: number;
  headers?: string[];
  body: string;
  error?: VdcError;
}

function send(
  upstream: Upstream,
  request: Partial<UpstreamRequest> = {},
  body: Buffer[] = [],
): Promise<Result> {
  return new Promise((resolve) => {
    const out: Result = { body: '' };
    const ex = upstream.exchange(
      { method: 'GET', path: '/', headers: ['Host', 'x.test'], body: 'none', ...request },
      {
        head(status, headers) {
          out.status = status;
          out.headers = headers;
        },
        body(chunk, last) {
          out.body += chunk.toString();
          if (last) resolve(out);
        },
        fail(error) {
          out.error = error;
          resolve(out);
        },
      },
    );
    for (const piece of body) ex.write(piece);
    if (request.body && request.body !== 'none') ex.end();
  });
}

const ok = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

test('requests share one kept-alive connection to the target, written as HTTP/1.1', async (t) => {
  const { upstream, target } = await tunnelTo(t, (s, n) => s.write(ok(`answer ${n}`)));
  for (const n of [0, 1, 2]) {
    const r = await send(upstream, { path: `/p${n}` });
    assert.deepEqual([r.status, r.body], [200, `answer ${n}`]);
  }
  assert.equal(target.connections, 1);
  assert.match(target.received[0]!, /^GET \/p0 HTTP\/1\.1\r\nHost: x\.test\r\n\r\nGET \/p1 /);
  assert.equal(upstream.idle, 1);
});

test('request bodies are framed by the gateway: Content-Length as given, or chunked', async (t) => {
  const { upstream, target } = await tunnelTo(t, (s, _n, text) => {
    if (/\r\n\r\n[\s\S]*(?:abcdef|0\r\n\r\n)$/.test(text)) s.write(ok('got it'));
  });
  const length = await send(
    upstream,
    { method: 'POST', headers: ['Host', 'x.test', 'Content-Length', '6'], body: 'length' },
    [Buffer.from('abc'), Buffer.from('def')],
  );
  assert.equal(length.body, 'got it');
  assert.match(target.received[0]!, /Content-Length: 6\r\n\r\nabcdef$/);
  const chunked = await send(upstream, { method: 'PUT', body: 'chunked' }, [
    Buffer.from('hello'),
    Buffer.from('!'),
  ]);
  assert.equal(chunked.body, 'got it');
  assert.match(
    target.received.at(-1)!,
    /PUT \/ HTTP\/1\.1\r\nHost: x\.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n$/,
  );
});

test('a reused connection the target closed as the request went out: a GET is sent once more on a new one', async (t) => {
  // The target answers the first request of each connection and drops the connection on the
  // second, without a word: what a keep-alive timeout racing a request looks like.
  const { upstream, target } = await tunnelTo(t, (s, n) =>
    n === 0 ? s.write(ok('fresh')) : s.destroy(),
  );
  assert.equal((await send(upstream)).body, 'fresh');
  const again = await send(upstream);
  assert.deepEqual([again.status, again.body, target.connections], [200, 'fresh', 2]);
  // Not sent twice: a POST, even without a body (the target may have acted on it), and a
  // request whose connection was new (the target itself dropped it).
  const post = await send(upstream, { method: 'POST' });
  assert.equal(post.error?.code, 'TUNNEL_UNAVAILABLE');
  assert.equal(target.connections, 2);
  assert.equal(target.received[1]!.split('POST /').length - 1, 1);
});

test('the second try goes through the next live tunnel for the name', async (t) => {
  const b = await tunnelTo(t, (s) => s.write(ok('from B')));
  const a = await tunnelTo(t, (s, n) => (n === 0 ? s.write(ok('from A')) : s.destroy()), {
    retryVia: () => b.upstream,
  });
  assert.equal((await send(a.upstream)).body, 'from A');
  // A's target drops its kept-alive connection as the next GET goes out: B answers it.
  const again = await send(a.upstream);
  assert.deepEqual([again.body, a.target.connections, b.target.connections], ['from B', 1, 1]);
});

test('a request dropped unanswered on a new connection is not sent again', async (t) => {
  const { upstream, target } = await tunnelTo(t, (s) => s.destroy());
  assert.equal((await send(upstream)).error?.code, 'TUNNEL_UNAVAILABLE');
  assert.equal(target.connections, 1);
});

test('header bytes reach the target as the client sent them (latin1 in, the same bytes out)', async (t) => {
  const { upstream, target } = await tunnelTo(t, (s) => s.write(ok('x')));
  // node's parser hands each byte over as one latin1 character: "café" in UTF-8 is "cafÃ©".
  const utf8AsLatin1 = Buffer.from('café').toString('latin1');
  await send(upstream, { path: `/${utf8AsLatin1}`, headers: ['X-Name', utf8AsLatin1] });
  const got = Buffer.from(target.received[0]!, 'latin1');
  assert.ok(got.includes(Buffer.from('X-Name: café\r\n')), got.toString('latin1'));
  assert.ok(got.includes(Buffer.from('GET /café HTTP/1.1')));
});

test("a late body after a bodiless answer never becomes the next request's answer", async (t) => {
  // HEAD answered with a Content-Length, and then — a common bug — the body anyway, late,
  // shaped like a whole answer.
  const { upstream, target } = await tunnelTo(t, (s, _n, _text, all) => {
    if (all === 0) {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n');
      setTimeout(() => s.write(ok('NOT-YOURS')), 50);
    } else s.write(ok('yours'));
  });
  const head = await send(upstream, { method: 'HEAD' });
  assert.deepEqual([head.status, head.body], [200, '']);
  await new Promise((r) => setTimeout(r, 100));
  const get = await send(upstream);
  assert.deepEqual([get.body, target.connections], ['yours', 2]);
});

test('a target cannot smuggle a second answer onto the connection', async (t) => {
  const smuggled = `${ok('one')}${ok('SMUGGLED')}`;
  const { upstream, target } = await tunnelTo(t, (s, _n, _t, all) =>
    s.write(all === 0 ? smuggled : ok('two')),
  );
  const first = await send(upstream);
  assert.equal(first.error?.code, 'UPSTREAM_RESPONSE_INVALID');
  assert.equal(first.status, 200, 'the head was read, but no body was handed on');
  assert.equal(first.body, '');
  const second = await send(upstream);
  assert.deepEqual(
    [second.body, target.connections],
    ['two', 2],
    'a new connection, its own answer',
  );
});

test('an answer the target cuts short fails; an aborted exchange or stale idle connection is not reused', async (t) => {
  const { upstream, target } = await tunnelTo(
    t,
    (s, _n, text, all) => {
      if (all === 0) s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort');
      else if (!text.slice(text.lastIndexOf('GET ')).startsWith('GET /hang')) s.write(ok('fine'));
    },
    { idleMs: 50 },
  );
  assert.equal((await send(upstream)).error?.code, 'UPSTREAM_RESPONSE_INVALID');
  assert.equal((await send(upstream)).body, 'fine');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await send(upstream)).body, 'fine');
  assert.equal(target.connections, 3, 'the idle connection past its time was closed, not reused');
  // The client goes away while the target still works on its request: that connection
  // may yet carry the answer, so it is closed, never given to the next request.
  const ex = upstream.exchange(
    { method: 'GET', path: '/hang', headers: [], body: 'none' },
    { head() {}, body() {}, fail() {} },
  );
  while (!target.received[2]!.includes('/hang')) await new Promise((r) => setTimeout(r, 5));
  ex.abort();
  assert.equal((await send(upstream)).body, 'fine');
  assert.equal(target.connections, 4);
});

test('a request that cannot be written as HTTP/1.1 is refused before anything is sent', async (t) => {
  const { upstream, target } = await tunnelTo(t, (s) => s.write(ok('x')));
  for (const bad of [
    { path: '/a b' },
    { path: 'http://elsewhere/' },
    { headers: ['X-A', 'a\r\nInjected: 1'] },
    { headers: ['Bad Name', 'v'] },
  ])
    assert.throws(
      () =>
        upstream.exchange(
          { method: 'GET', path: '/', headers: [], body: 'none', ...bad },
          { head() {}, body() {}, fail() {} },
        ),
      { code: 'UPSTREAM_REQUEST_INVALID' },
    );
  assert.equal(target.connections, 0);
});
