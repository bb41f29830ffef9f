import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { DOMAIN, startEchoBackend, startGatewayGrid } from '../../src/gateway/gateway-test-kit.ts';
import { certSha256, makeSelfSignedCert } from '../../src/gateway/index.ts';
import { waitFor } from '../support/node-fixture.ts';
import { requireCommand } from '../support/requirements.ts';

/*
 * http mode over TLS with the owner's certificate: the name contract pins the leaf's
 * SHA-256, the tunnel client presents chain and key, and the gateway terminates TLS with
 * them and applies the name's rules to the decrypted requests (docs/gateway.md).
 */

const run = promisify(execFile);

/** curl -w status; `scheme` https verifies the gateway's answer against `ca`. */
async function curl(url: string, host: string, port: number, extra: string[] = []) {
  const { stdout } = await run('curl', [
    '-sS',
    '--resolve',
    `${host}:${port}:127.0.0.1`,
    '-w',
    '\n%{http_code}',
    ...extra,
    url,
  ]);
  const at = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) };
}

test('http mode over TLS: curl and wss reach the backend with the owner’s certificate and the name’s rules', async (t) => {
  if (!requireCommand(t, 'curl') || !requireCommand(t, 'openssl')) return;
  const grid = await startGatewayGrid(t);
  const host = `shop.${DOMAIN}`;
  const keyFile = join(grid.dir, 'shop.key');
  const certFile = join(grid.dir, 'shop.crt');
  makeSelfSignedCert(keyFile, certFile, { cn: host, days: 1, san: host });
  const backend = await startEchoBackend(t);
  const wss = new WebSocketServer({ server: backend.server });
  wss.on('connection', (ws, req) => {
    ws.send(`proto ${req.headers['x-forwarded-proto']}`);
    ws.on('message', (m) => ws.send(`echo ${String(m)}`));
  });
  t.after(() => wss.close());
  await grid.registerName(grid.user, 'shop', 'http', {
    methods: ['GET', 'POST'],
    tlsCertSha256: certSha256(readFileSync(certFile)),
  });
  await grid.sync();
  grid.tunnel(grid.user, 'shop', backend.port, {
    tls: { cert: readFileSync(certFile), key: readFileSync(keyFile) },
  });
  await waitFor('the tunnel', () => grid.gateway.pool.count('shop') === 1);
  const port = grid.gateway.httpsPort;
  const https = `https://${host}:${port}`;

  const ok = await curl(`${https}/a?b=1`, host, port, ['--cacert', certFile, '-d', 'hi']);
  assert.equal(ok.status, 200, ok.body);
  const seen = JSON.parse(ok.body) as {
    url: string;
    body: string;
    headers: Record<string, string>;
  };
  assert.equal(seen.url, '/a?b=1');
  assert.equal(seen.body, 'hi');
  assert.equal(seen.headers['x-forwarded-proto'], 'https');
  assert.equal(seen.headers['forwarded'], `for=127.0.0.1;host="${host}:${port}";proto=https`);

  // The name's rules apply over TLS exactly as over plain HTTP.
  const del = await curl(`${https}/a`, host, port, ['--cacert', certFile, '-X', 'DELETE']);
  assert.equal(del.status, 405);
  // A Host naming another name on a connection made for this one is not forwarded.
  const other = await curl(`${https}/`, host, port, [
    '--cacert',
    certFile,
    '-H',
    `Host: other.${DOMAIN}`,
  ]);
  assert.equal(other.status, 421);
  // Plain HTTP to a name served over TLS is redirected there, keeping method and path.
  const plain = await curl(
    `http://${host}:${grid.gateway.httpPort}/p?q`,
    host,
    grid.gateway.httpPort,
    ['-o', '/dev/null', '-D', '-'],
  );
  assert.equal(plain.status, 308);
  assert.match(plain.body, new RegExp(`location: ${https}/p\\?q`, 'i'));
  // The client verifies the owner's certificate: the gateway's own tunnel certificate is not it.
  await assert.rejects(
    curl(`${https}/`, host, port, ['--cacert', join(grid.dir, 'tunnel.crt')]),
    /certificate/,
  );

  // TLS options pass through to tls.connect: verify the owner's certificate for `host`.
  const wsOptions = {
    ca: readFileSync(certFile),
    servername: host,
    headers: { host: `${host}:${port}` },
  };
  const ws = new WebSocket(`wss://127.0.0.1:${port}/room`, wsOptions);
  const messages: string[] = [];
  ws.on('message', (m) => messages.push(String(m)));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send('one');
  await waitFor('the echo', () => messages.length === 2);
  assert.deepEqual(messages, ['proto https', 'echo one']);
  ws.close();
});
