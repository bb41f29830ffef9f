import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import {
  DOMAIN,
  type GatewayGrid,
  startEchoBackend,
  startGatewayGrid,
} from '../../src/gateway/gateway-test-kit.ts';
import { openTunnel, signTunnelGrant } from '../../src/gateway/index.ts';
import {
  signTunnelHello,
  TUNNEL_EXPORTER_BYTES,
  TUNNEL_EXPORTER_LABEL,
} from '../../src/gateway/tunnel-auth.ts';
import { loadOrCreateTunnelCert } from '../../src/gateway/tunnel-cert.ts';
import { readFrame, writeFrame } from '../../src/gateway/tunnel-frame.ts';
import { TUNNEL_ALPN } from '../../src/gateway/tunnel-server.ts';
import { Identity } from '../../src/identity/index.ts';
import { LedgerClient } from '../../src/ledger/index.ts';
import { tempDir } from '../support/ledger-fixture.ts';
import { hasCode, waitFor } from '../support/node-fixture.ts';
import { startTunnelSink } from '../support/tunnel-sink.ts';

/*
 * P4: only the name's holder (or a node it lists, with its grant) can put a backend behind
 * a name, and only at the gateway the ledger pins. Each refusal is checked by its code and
 * by the gateway holding no tunnel for the name afterwards.
 */

async function httpStatus(g: GatewayGrid, name: string): Promise<number> {
  return new Promise((resolve) => {
    const r = request(
      { port: g.gateway.httpPort, host: '127.0.0.1', headers: { host: `${name}.${DOMAIN}` } },
      (s) => {
        s.resume();
        resolve(s.statusCode ?? 0);
      },
    );
    r.on('error', () => resolve(0));
    r.end();
  });
}

test('a twin that does not hold the name cannot open a tunnel for it', async (t) => {
  const g = await startGatewayGrid(t);
  const backend = await startEchoBackend(t);
  await g.registerName(g.user, 'mine', 'http');
  const stranger = await g.newParty();
  await g.sync();
  const run = g.tunnel(stranger, 'mine', backend.port);
  await assert.rejects(run.done, hasCode('TUNNEL_NOT_NAME_OWNER'));
  assert.equal(run.connects, 0);
  assert.equal(g.gateway.pool.count('mine'), 0);
  assert.equal(await httpStatus(g, 'mine'), 502, 'no backend: nothing was attached');
});

test('a tunnel for a name not on this gateway is refused', async (t) => {
  const g = await startGatewayGrid(t);
  const backend = await startEchoBackend(t);
  await assert.rejects(
    openTunnel({
      view: () => g.user.client.follower.view,
      ledger: g.user.client.follower.ledger,
      identity: g.user.identity,
      name: 'ghost',
      gateway: g.gatewayId,
      to: { host: '127.0.0.1', port: backend.port },
    }),
    hasCode('TUNNEL_NAME_UNKNOWN'),
  );
  assert.equal(g.gateway.pool.count('ghost'), 0);
});

test('a released name stops being served within seconds and its tunnel is closed', async (t) => {
  const g = await startGatewayGrid(t);
  const backend = await startEchoBackend(t);
  await g.registerName(g.user, 'brief', 'http');
  const run = g.tunnel(g.user, 'brief', backend.port);
  await waitFor('the tunnel', () => g.gateway.pool.count('brief') === 1);
  assert.equal(await httpStatus(g, 'brief'), 200);
  await g.user.client.submit(g.user.identity, 'name.release', { name: 'brief' });
  // No sync of the gateway here: it learns of the release from the ledger by itself.
  await waitFor('the name to stop', async () => (await httpStatus(g, 'brief')) === 404, 10_000);
  await waitFor('the tunnel to close', () => g.gateway.pool.count('brief') === 0, 10_000);
  await assert.rejects(run.done, hasCode('TUNNEL_NAME_UNKNOWN'));
});

test('a node tunnel: listed with the grant works; without a grant or not listed it is refused', async (t) => {
  const g = await startGatewayGrid(t);
  const backend = await startEchoBackend(t);
  const node = await g.newNode();
  const other = await g.newNode();
  await g.registerName(g.user, 'svc', 'http', {}, [node.id]);
  await g.sync();
  const ledger = g.user.client.follower.ledger;
  const terms = { ledger, gateway: g.gatewayId, name: 'svc' };
  const forged = signTunnelGrant(node.identity, { ...terms, node: node.id });
  const bad = g.tunnel(node.identity, 'svc', backend.port, { node: node.id, grant: forged });
  await assert.rejects(bad.done, hasCode('TUNNEL_GRANT_INVALID'));
  const otherGrant = signTunnelGrant(g.user.identity, { ...terms, node: other.id });
  const unlisted = g.tunnel(other.identity, 'svc', backend.port, {
    node: other.id,
    grant: otherGrant,
  });
  await assert.rejects(unlisted.done, hasCode('TUNNEL_NODE_NOT_LISTED'));
  // A grant for one node does not serve another, even a listed one's key with the wrong id.
  const grant = signTunnelGrant(g.user.identity, { ...terms, node: node.id });
  const stolen = g.tunnel(other.identity, 'svc', backend.port, { node: node.id, grant });
  await assert.rejects(stolen.done, hasCode('TUNNEL_AUTH_FAILED'));
  assert.equal(g.gateway.pool.count('svc'), 0);
  const good = g.tunnel(node.identity, 'svc', backend.port, { node: node.id, grant });
  await waitFor('the node tunnel', () => g.gateway.pool.count('svc') === 1);
  await waitFor('the node to see it open', () => good.connects === 1);
  assert.equal(await httpStatus(g, 'svc'), 200);
  // Dropping the node from the contract closes its tunnel.
  await g.registerName(g.user, 'svc', 'http', {}, []);
  await waitFor('the node tunnel to close', () => g.gateway.pool.count('svc') === 0, 10_000);
  await assert.rejects(good.done, hasCode('TUNNEL_NODE_NOT_LISTED'));
});

function tunnelTls(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      port,
      host: '127.0.0.1',
      rejectUnauthorized: false,
      ALPNProtocols: [TUNNEL_ALPN],
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

test('a captured tunnel hello cannot be replayed on another connection', async (t) => {
  const g = await startGatewayGrid(t);
  await g.registerName(g.user, 'once', 'http');
  const ledger = g.user.client.follower.ledger;
  const first = await tunnelTls(g.gateway.tunnelPort);
  const exporter = first.exportKeyingMaterial(
    TUNNEL_EXPORTER_BYTES,
    TUNNEL_EXPORTER_LABEL,
    Buffer.alloc(0),
  );
  const hello = signTunnelHello(
    g.user.identity,
    { ledger, gateway: g.gatewayId, name: 'once' },
    exporter,
  );
  await writeFrame(first, hello);
  assert.deepEqual(
    await readFrame(first, 5000),
    { ok: true },
    'the hello is good on its own connection',
  );
  await waitFor('the tunnel', () => g.gateway.pool.count('once') === 1);
  first.destroy();
  await waitFor('the tunnel to drop', () => g.gateway.pool.count('once') === 0);
  const second = await tunnelTls(g.gateway.tunnelPort);
  await writeFrame(second, hello);
  const answer = (await readFrame(second, 5000)) as { ok: boolean; code: string };
  second.destroy();
  assert.equal(answer.ok, false);
  assert.equal(answer.code, 'TUNNEL_AUTH_FAILED');
  assert.equal(g.gateway.pool.count('once'), 0);
});

test('a backend refuses a gateway whose key is not the one the ledger pins, before sending anything', async (t) => {
  const g = await startGatewayGrid(t);
  const backend = await startEchoBackend(t);
  await g.registerName(g.user, 'pinned', 'http');
  const impostor = loadOrCreateTunnelCert(join(g.dir, 'fake.key'), join(g.dir, 'fake.crt'), DOMAIN);
  const fake = await startTunnelSink(t, { key: impostor.key, cert: impostor.cert });
  const received = () => fake.received().length;
  await assert.rejects(
    openTunnel({
      view: () => g.user.client.follower.view,
      ledger: g.user.client.follower.ledger,
      identity: g.user.identity,
      name: 'pinned',
      address: { host: '127.0.0.1', port: fake.at.port },
      to: { host: '127.0.0.1', port: backend.port },
    }),
    hasCode('TUNNEL_PIN_MISMATCH'),
  );
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(received(), 0, 'no hello reached the impostor');
  assert.equal(g.gateway.pool.count('pinned'), 0);
});

test('after gateway.update the old tunnel key is refused; a view behind the update catches up once', async (t) => {
  const g = await startGatewayGrid(t);
  const backend = await startEchoBackend(t);
  await g.registerName(g.user, 'moved', 'http');
  const stale = await LedgerClient.connect({ url: g.ledger.url, home: tempDir(t) });
  await stale.follower.sync();
  // The re-keyed gateway: a new key at a new address, recorded by the operator.
  const rekeyed = loadOrCreateTunnelCert(join(g.dir, 'new.key'), join(g.dir, 'new.crt'), DOMAIN);
  const fresh = await startTunnelSink(t, { key: rekeyed.key, cert: rekeyed.cert });
  const received = () => fresh.received().length;
  const freshAt = { host: '127.0.0.1', port: fresh.at.port };
  const running = g.tunnel(g.user, 'moved', backend.port, { repinCheckMs: 100 });
  await waitFor('the tunnel', () => g.gateway.pool.count('moved') === 1);
  await g.operator.client.submit(g.operator.identity, 'gateway.update', {
    gateway: g.gatewayId,
    tunnelAddress: `127.0.0.1:${freshAt.port}`,
    tunnelSpkiSha256: rekeyed.spkiSha256,
  });
  await g.sync();
  // The tunnel open on the old key is dropped by its own client once its view sees the update.
  await waitFor('the old tunnel dropped', () => g.gateway.pool.count('moved') === 0);
  running.stop();
  await new Promise((r) => setTimeout(r, 200));
  const seen = received();
  const base = {
    ledger: g.user.client.follower.ledger,
    identity: g.user.identity,
    name: 'moved',
    to: { host: '127.0.0.1', port: backend.port },
    handshakeMs: 1_000,
  };
  // Whoever still holds the old key (here the old gateway itself) is no longer that gateway.
  await assert.rejects(
    openTunnel({
      ...base,
      view: () => g.user.client.follower.view,
      address: { host: '127.0.0.1', port: g.gateway.tunnelPort },
    }),
    hasCode('TUNNEL_PIN_MISMATCH'),
  );
  assert.equal(g.gateway.pool.count('moved'), 0);
  // A view that has not seen the update refuses the new key unless it may sync...
  await assert.rejects(
    openTunnel({ ...base, view: () => stale.follower.view, address: freshAt }),
    hasCode('TUNNEL_PIN_MISMATCH'),
  );
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(received(), seen, 'no hello before the key is pinned');
  // ...and, synced once, pins the new key and sends its hello there.
  await assert.rejects(
    openTunnel({
      ...base,
      view: () => stale.follower.view,
      sync: () => stale.follower.sync(),
      address: freshAt,
    }),
  );
  assert.ok(received() > seen, 'the hello went to the re-keyed gateway');
  assert.equal(stale.follower.view.gateway(g.gatewayId)?.tunnelSpkiSha256, rekeyed.spkiSha256);
});

test('a hello signed by a key the ledger does not know is refused', async (t) => {
  const g = await startGatewayGrid(t);
  await g.registerName(g.user, 'keyed', 'http');
  const s = await tunnelTls(g.gateway.tunnelPort);
  const exporter = s.exportKeyingMaterial(
    TUNNEL_EXPORTER_BYTES,
    TUNNEL_EXPORTER_LABEL,
    Buffer.alloc(0),
  );
  const nobody = Identity.fromSeed(randomBytes(64));
  const hello = signTunnelHello(
    nobody,
    { ledger: g.user.client.follower.ledger, gateway: g.gatewayId, name: 'keyed' },
    exporter,
  );
  await writeFrame(s, hello);
  const answer = (await readFrame(s, 5000)) as { ok: boolean; code: string };
  s.destroy();
  assert.deepEqual([answer.ok, answer.code], [false, 'TUNNEL_NOT_NAME_OWNER']);
  assert.equal(g.gateway.pool.count('keyed'), 0);
});

test('a gateway moved with its key (gateway.update of the address) takes its open tunnels along', async (t) => {
  const g = await startGatewayGrid(t);
  const backend = await startEchoBackend(t);
  await g.registerName(g.user, 'roams', 'http');
  // The gateway's new home: the same tunnel key at another address, keeping what it reads.
  const moved = await startTunnelSink(t, { key: g.cert.key, cert: g.cert.cert });
  const received = () => moved.received().length;
  const run = g.tunnel(g.user, 'roams', backend.port, { repinCheckMs: 100 });
  t.after(() => run.stop());
  await waitFor('the tunnel', () => g.gateway.pool.count('roams') === 1);
  await g.operator.client.submit(g.operator.identity, 'gateway.update', {
    gateway: g.gatewayId,
    tunnelAddress: `127.0.0.1:${moved.at.port}`,
    tunnelSpkiSha256: g.cert.spkiSha256,
  });
  await g.sync();
  await waitFor('the tunnel to leave the old address', () => g.gateway.pool.count('roams') === 0);
  await waitFor('the hello at the new address', () => received() > 0);
});

test('a key the view does not pin is retried, never trusted: nothing is sent, the client keeps trying', async (t) => {
  const g = await startGatewayGrid(t);
  const backend = await startEchoBackend(t);
  await g.registerName(g.user, 'patient', 'http');
  const impostor = loadOrCreateTunnelCert(join(g.dir, 'imp.key'), join(g.dir, 'imp.crt'), DOMAIN);
  const fake = await startTunnelSink(t, { key: impostor.key, cert: impostor.cert });
  const received = () => fake.received().length;
  const codes: unknown[] = [];
  const run = g.tunnel(g.user, 'patient', backend.port, {
    address: { host: '127.0.0.1', port: fake.at.port },
    onEvent: (event: string, fields: Record<string, unknown>) => {
      if (event === 'retry') codes.push(fields['code']);
    },
    maxBackoffMs: 200,
  } as never);
  await waitFor('two refused tries', () => codes.length >= 2);
  run.stop();
  await run.done; // stopped, not rejected: a pin mismatch is not final
  assert.ok(
    codes.every((c) => c === 'TUNNEL_PIN_MISMATCH'),
    String(codes),
  );
  assert.equal(received(), 0, 'nothing reached the unpinned key');
});
