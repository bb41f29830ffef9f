import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { test } from 'node:test';
import { connect } from 'node:tls';
import { DOMAIN, startGatewayGrid } from '../../src/gateway/gateway-test-kit.ts';
import { waitFor } from '../support/node-fixture.ts';

/*
 * P4 in tls-passthrough mode: the gateway sees only the ClientHello, so its rules act on
 * connections — a refused address, a client over its rate, a connection idle past the
 * name's idleMs, or a ClientHello that never comes are closed, and nothing (beyond a
 * permitted connection) reaches the backend.
 */

/** A TCP backend that counts connections and bytes (the TLS inside is not its business here). */
async function countingBackend(t: { after: (fn: () => unknown) => void }) {
  let connections = 0;
  let bytes = 0;
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('data', (d) => {
      bytes += d.length;
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    bytes: () => bytes,
  };
}

/** Opens TLS through the gateway; resolves how the attempt ended. */
function attempt(port: number, servername: string): Promise<{ closed: boolean; at: number }> {
  const start = Date.now();
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false });
    const give = setTimeout(() => {
      s.destroy();
      resolve({ closed: false, at: Date.now() - start });
    }, 3000);
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(give);
      resolve({ closed: true, at: Date.now() - start });
    });
  });
}

test('passthrough: a denied address is closed and never reaches the backend', async (t) => {
  const g = await startGatewayGrid(t);
  const backend = await countingBackend(t);
  await g.registerName(g.user, 'vault', 'tls-passthrough', { deny: ['127.0.0.0/8'] });
  g.tunnel(g.user, 'vault', backend.port);
  await waitFor('the tunnel', () => g.gateway.pool.count('vault') === 1);
  const r = await attempt(g.gateway.httpsPort, `vault.${DOMAIN}`);
  assert.equal(r.closed, true);
  assert.equal(backend.connections(), 0);
});

test('passthrough: connections over the rate limit are closed', async (t) => {
  const g = await startGatewayGrid(t);
  const backend = await countingBackend(t);
  await g.registerName(g.user, 'rated', 'tls-passthrough', {
    rateLimit: { requests: 1, perSeconds: 60 },
    timeouts: { idleMs: 200 },
  });
  g.tunnel(g.user, 'rated', backend.port);
  await waitFor('the tunnel', () => g.gateway.pool.count('rated') === 1);
  // The first is forwarded (the counting backend never answers TLS: idleMs closes it).
  const first = await attempt(g.gateway.httpsPort, `rated.${DOMAIN}`);
  assert.equal(first.closed, true, 'the idle connection was closed by idleMs');
  await waitFor('the backend to see the ClientHello', () => backend.bytes() > 0);
  assert.equal(backend.connections(), 1);
  const second = await attempt(g.gateway.httpsPort, `rated.${DOMAIN}`);
  assert.equal(second.closed, true);
  assert.equal(backend.connections(), 1, 'the second never reached the backend');
});

test('passthrough: a client that never sends its ClientHello is closed', async (t) => {
  const g = await startGatewayGrid(t, { helloTimeoutMs: 300 });
  const closed = await new Promise<boolean>((resolve) => {
    const raw = tcpConnect(g.gateway.httpsPort, '127.0.0.1');
    raw.on('error', () => {});
    raw.write(Buffer.from([22, 3, 1, 0, 200])); // a record header, then silence
    const give = setTimeout(() => resolve(false), 3000);
    raw.on('close', () => {
      clearTimeout(give);
      resolve(true);
    });
  });
  assert.equal(closed, true);
});
