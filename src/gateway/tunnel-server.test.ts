import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { jsonLogger } from '../core/log.ts';
import { LedgerClient } from '../ledger/index.ts';
import { BackendPool } from './backend-pool.ts';
import { startEchoBackend, startGatewayGrid } from './gateway-test-kit.ts';
import { openTunnel } from './tunnel-client.ts';
import { startTunnelServer } from './tunnel-server.ts';

/*
 * A gateway a head behind the ledger: a name registered a moment ago is news to it. It
 * decides a refused hello again after one sync of its view, instead of sending a backend
 * that is right away to back off.
 */

async function behindServer(t: TestContext, withSync: boolean) {
  const g = await startGatewayGrid(t);
  const home = mkdtempSync(join(tmpdir(), 'vdc-behind-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  // A follower of its own that syncs only when asked: behind whatever happens next.
  const follower = (await LedgerClient.connect({ url: g.ledger.url, home })).follower;
  await follower.sync();
  const pool = new BackendPool();
  const server = await startTunnelServer({
    host: '127.0.0.1',
    port: 0,
    key: g.cert.key,
    cert: g.cert.cert,
    ledger: follower.ledger,
    gateway: g.gatewayId,
    domain: 'gw.test',
    view: () => follower.view,
    ...(withSync ? { sync: () => follower.sync() } : {}),
    pool,
    logger: jsonLogger(() => {}),
  });
  t.after(() => server.close());
  await g.registerName(g.user, 'fresh', 'http');
  await g.sync();
  const backend = await startEchoBackend(t);
  const open = () =>
    openTunnel({
      view: () => g.user.client.follower.view,
      ledger: g.user.client.follower.ledger,
      identity: g.user.identity,
      name: 'fresh',
      address: { host: '127.0.0.1', port: server.port },
      to: { host: '127.0.0.1', port: backend.port },
    });
  return { open, pool, follower };
}

test('a gateway behind the ledger syncs once and accepts a name registered a moment ago', async (t) => {
  const { open, pool, follower } = await behindServer(t, true);
  assert.equal(follower.view.name('fresh'), undefined, 'the gateway has not seen the name');
  const tunnel = await open();
  t.after(() => tunnel.close());
  assert.equal(pool.count('fresh'), 1);
});

test('without a sync, the same hello is refused as unknown', async (t) => {
  const { open, pool } = await behindServer(t, false);
  await assert.rejects(open(), (err: { code?: string }) => err.code === 'TUNNEL_NAME_UNKNOWN');
  assert.equal(pool.count('fresh'), 0);
});
