import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer } from 'node:net';
import { test } from 'node:test';
import { DOMAIN, startEchoBackend, startGatewayGrid } from '../../src/gateway/gateway-test-kit.ts';
import { waitFor } from '../support/node-fixture.ts';

/*
 * P4: what reaches a backend through the gateway is only well-formed HTTP for a served
 * name, inside the name's rules. Each attack is sent as raw bytes; the answer must be a
 * clean refusal and the backend must have seen nothing.
 */

/** Sends raw bytes, returns everything answered until the gateway closes (or 5 s). */
function raw(
  port: number,
  bytes: string | Buffer,
  opts: { keepOpenMs?: number } = {},
): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    const end = setTimeout(() => s.destroy(), opts.keepOpenMs ?? 5000);
    s.on('data', (d) => {
      got += d.toString('latin1');
    });
    s.on('close', () => {
      clearTimeout(end);
      resolve(got);
    });
    s.on('error', () => {});
    s.write(bytes);
  });
}

function status(answer: string): number {
  return Number(/^HTTP\/1\.1 ([0-9]{3})/.exec(answer)?.[1] ?? 0);
}

async function grid(t: Parameters<typeof startGatewayGrid>[0], rules = {}) {
  const g = await startGatewayGrid(t, { headersTimeoutMs: 500 });
  const backend = await startEchoBackend(t);
  let seen = 0;
  backend.server.prependListener('request', () => seen++);
  await g.registerName(g.user, 'app', 'http', rules);
  g.tunnel(g.user, 'app', backend.port);
  await waitFor('the tunnel', () => g.gateway.pool.count('app') === 1);
  const host = `app.${DOMAIN}`;
  return { g, port: g.gateway.httpPort, host, seen: () => seen };
}

test('a well-formed request is forwarded (the baseline the attacks below differ from)', async (t) => {
  const { port, host, seen } = await grid(t);
  const answer = await raw(port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  assert.equal(status(answer), 200);
  assert.equal(seen(), 1);
});

test('smuggling shapes are refused with 400 and never forwarded', async (t) => {
  const { port, host, seen } = await grid(t);
  const shapes: Record<string, string> = {
    'Content-Length with Transfer-Encoding': `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    'duplicate Content-Length': `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx`,
    'differing Content-Length': `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy`,
    'obsolete line folding': `GET / HTTP/1.1\r\nHost: ${host}\r\nX-A: one\r\n two\r\n\r\n`,
    'invalid header byte': `GET / HTTP/1.1\r\nHost: ${host}\r\nX-A: a\x01b\r\n\r\n`,
    'bare LF line ending': `GET / HTTP/1.1\nHost: ${host}\nX-A: b\n\n`,
    'space before colon': `GET / HTTP/1.1\r\nHost: ${host}\r\nContent-Length : 1\r\n\r\nx`,
    'Transfer-Encoding not chunked last': `POST / HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
    'Transfer-Encoding identity': `POST / HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: identity\r\n\r\n`,
    'two Host headers': `GET / HTTP/1.1\r\nHost: ${host}\r\nHost: other.${DOMAIN}\r\n\r\n`,
    'absolute-form target': `GET http://${host}/ HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
    'invalid chunk size': `POST / HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n`,
  };
  for (const [shape, bytes] of Object.entries(shapes)) {
    const answer = await raw(port, bytes);
    assert.equal(status(answer), 400, `${shape}: ${JSON.stringify(answer.slice(0, 80))}`);
  }
  assert.equal(seen(), 0, 'the backend saw none of them');
});

test('oversized headers are refused with 431: the name rule and the gateway cap', async (t) => {
  const { port, host, seen } = await grid(t, { maxHeaderBytes: 2048 });
  const over = await raw(
    port,
    `GET / HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${'a'.repeat(3000)}\r\n\r\n`,
  );
  assert.equal(status(over), 431);
  const huge = await raw(
    port,
    `GET / HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`,
  );
  assert.equal(status(huge), 431);
  assert.equal(seen(), 0);
});

test('a slowloris connection is closed by the header timeout', async (t) => {
  const { port, host, seen } = await grid(t);
  // Headers trickle in and never end; the gateway answers 408 and closes well before 5 s.
  const answer = await new Promise<{ text: string; closed: boolean }>((resolve) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    const drip = setInterval(() => s.write('X-Drip: 1\r\n'), 100);
    const give = setTimeout(() => {
      clearInterval(drip);
      s.destroy();
      resolve({ text, closed: false });
    }, 5000);
    s.on('data', (d) => {
      text += d.toString();
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearInterval(drip);
      clearTimeout(give);
      resolve({ text, closed: true });
    });
    s.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n`);
  });
  assert.equal(answer.closed, true, 'the gateway closed the connection');
  assert.equal(status(answer.text), 408);
  assert.equal(seen(), 0);
});

test('the rate limit answers 429 with Retry-After, per client address', async (t) => {
  const { port, host, seen } = await grid(t, { rateLimit: { requests: 2, perSeconds: 60 } });
  const req = `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
  assert.equal(status(await raw(port, req)), 200);
  assert.equal(status(await raw(port, req)), 200);
  const third = await raw(port, req);
  assert.equal(status(third), 429);
  assert.match(third, /retry-after: [0-9]+/i);
  assert.equal(seen(), 2);
});

test('methods, path prefixes, address lists and body size are enforced before forwarding', async (t) => {
  const { g, port, host, seen } = await grid(t, {
    methods: ['GET'],
    pathPrefixes: ['/api/'],
    maxBodyBytes: 4,
  });
  assert.equal(status(await raw(port, `DELETE /api/x HTTP/1.1\r\nHost: ${host}\r\n\r\n`)), 405);
  assert.equal(status(await raw(port, `GET /admin HTTP/1.1\r\nHost: ${host}\r\n\r\n`)), 403);
  assert.equal(
    status(
      await raw(
        port,
        `GET /api/x HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 10\r\n\r\n0123456789`,
      ),
    ),
    413,
  );
  await g.registerName(g.user, 'app', 'http', { deny: ['127.0.0.0/8'] });
  assert.equal(status(await raw(port, `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`)), 403);
  await g.registerName(g.user, 'app', 'http', { allow: ['10.0.0.0/8'] });
  assert.equal(status(await raw(port, `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`)), 403);
  assert.equal(seen(), 0);
  // A chunked body is counted as it streams: past the limit the answer is 413 (the backend
  // may have seen the head by then, but never a body past the limit).
  await g.registerName(g.user, 'app', 'http', { maxBodyBytes: 4 });
  const chunked = await raw(
    port,
    `POST /api/x HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n0\r\n\r\n`,
  );
  assert.equal(status(chunked), 413);
});

test('an unknown name gets 404 over HTTP and a closed connection over TLS, never forwarded', async (t) => {
  const { g, port, host, seen } = await grid(t);
  assert.equal(status(await raw(port, `GET / HTTP/1.1\r\nHost: nope.${DOMAIN}\r\n\r\n`)), 404);
  assert.equal(status(await raw(port, `GET / HTTP/1.1\r\nHost: app.other.test\r\n\r\n`)), 404);
  assert.equal(status(await raw(port, `GET / HTTP/1.1\r\nHost: x.app.${DOMAIN}\r\n\r\n`)), 404);
  // An http-mode name asked for over TLS: closed without a byte.
  const { connect: tlsConnect } = await import('node:tls');
  for (const servername of [`nope.${DOMAIN}`, host]) {
    const closed = await new Promise<string>((resolve) => {
      const s = tlsConnect({
        port: g.gateway.httpsPort,
        host: '127.0.0.1',
        servername,
        rejectUnauthorized: false,
      });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      s.on('secureConnect', () => resolve('connected'));
    });
    assert.notEqual(closed, 'connected', servername);
  }
  assert.equal(seen(), 0);
});

test('a backend cannot smuggle an answer to another request: a second answer on its connection is refused', async (t) => {
  const g = await startGatewayGrid(t);
  // A target that answers its first request twice, the second answer meant for whoever's
  // request the gateway would send next on that kept-alive connection.
  let requests = 0;
  const target = createServer((s) => {
    s.on('error', () => {});
    s.on('data', () => {
      const body = requests++ === 0 ? 'one' : 'two';
      let text = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      if (body === 'one') text += 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED';
      s.write(text);
    });
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  t.after(() => target.close());
  await g.registerName(g.user, 'app', 'http');
  g.tunnel(g.user, 'app', (target.address() as AddressInfo).port);
  await waitFor('the tunnel', () => g.gateway.pool.count('app') === 1);
  const ask = () =>
    raw(g.gateway.httpPort, `GET / HTTP/1.1\r\nHost: app.${DOMAIN}\r\nConnection: close\r\n\r\n`);
  const first = await ask();
  assert.equal(status(first), 502);
  assert.doesNotMatch(first, /one|SMUGGLED/);
  const second = await ask();
  assert.equal(status(second), 200);
  assert.match(second, /\r\n\r\ntwo$/);
});

test('a backend cannot answer another request with a late body after a HEAD answer', async (t) => {
  const g = await startGatewayGrid(t);
  // HEAD answered with a Content-Length, then — late — a body shaped like a whole answer,
  // waiting on the kept-alive connection for whoever's request comes next.
  const target = createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d) => {
      if (!d.toString('latin1').startsWith('HEAD')) return void s.write(answer('yours'));
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n');
      setTimeout(() => s.write(answer('NOT-YOURS')), 50);
    });
  });
  const answer = (body: string) =>
    `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  t.after(() => target.close());
  await g.registerName(g.user, 'app', 'http');
  g.tunnel(g.user, 'app', (target.address() as AddressInfo).port);
  await waitFor('the tunnel', () => g.gateway.pool.count('app') === 1);
  const ask = (method: string) =>
    raw(
      g.gateway.httpPort,
      `${method} / HTTP/1.1\r\nHost: app.${DOMAIN}\r\nConnection: close\r\n\r\n`,
    );
  assert.equal(status(await ask('HEAD')), 200);
  await new Promise((r) => setTimeout(r, 100));
  const other = await ask('GET');
  assert.match(other, /\r\n\r\nyours$/);
  assert.doesNotMatch(other, /NOT-YOURS/);
});
