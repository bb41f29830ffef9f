import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import type { ErrorCode } from '../../src/core/error-codes.ts';
import {
  DOMAIN,
  type GatewayGrid,
  type Party,
  startEchoBackend,
  startGatewayGrid,
} from '../../src/gateway/gateway-test-kit.ts';
import { certSha256, makeSelfSignedCert, openTunnel } from '../../src/gateway/index.ts';
import type { NameRecord } from '../../src/ledger/index.ts';
import { hasCode, waitFor } from '../support/node-fixture.ts';
import { requireCommand } from '../support/requirements.ts';
import { startTunnelSink } from '../support/tunnel-sink.ts';

/*
 * P4, http mode over TLS: the gateway serves a name with an owner's certificate only when
 * the tunnel is the name's, the leaf is the one the name contract pins, covers NAME.DOMAIN,
 * is valid now and matches the key. Each refusal is checked by its code, by the gateway
 * holding no tunnel for the name, by the name contract being unchanged, and by TLS for the
 * name still being closed.
 */

let serial = 0;

interface Pem {
  cert: Buffer;
  key: Buffer;
  sha256: string;
}

function makeCert(
  g: GatewayGrid,
  o: { san?: string; notBefore?: Date; notAfter?: Date } = {},
): Pem {
  const base = join(g.dir, `owner-${++serial}`);
  makeSelfSignedCert(`${base}.key`, `${base}.crt`, {
    cn: o.san ?? 'owner',
    days: 1,
    ...o,
  });
  const cert = readFileSync(`${base}.crt`);
  return { cert, key: readFileSync(`${base}.key`), sha256: certSha256(cert) };
}

/** Whether a TLS handshake for NAME.DOMAIN through the gateway completes (trusting anything). */
function tlsHandshakes(g: GatewayGrid, name: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port: g.gateway.httpsPort,
      servername: `${name}.${DOMAIN}`,
      rejectUnauthorized: false,
    });
    s.once('secureConnect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('close', () => resolve(false));
  });
}

type T = { after: (fn: () => unknown) => void };

async function refused(
  t: T,
  g: GatewayGrid,
  owner: Party,
  name: string,
  tls: { cert: Buffer; key: Buffer } | undefined,
  code: ErrorCode,
): Promise<void> {
  const before = structuredClone(g.user.client.follower.view.name(name)) as NameRecord;
  const backend = await startEchoBackend(t);
  const run = g.tunnel(owner, name, backend.port, tls ? { tls } : {});
  await assert.rejects(run.done, hasCode(code));
  assert.equal(run.connects, 0);
  assert.equal(g.gateway.pool.count(name), 0, 'no tunnel is attached');
  await g.sync();
  assert.deepEqual(
    g.user.client.follower.view.name(name),
    before,
    'the name contract is as it was',
  );
  assert.equal(await tlsHandshakes(g, name), false, 'TLS for the name is still closed');
}

test('refused: a certificate whose hash is not the pin, and one for a name that pins none', async (t) => {
  if (!requireCommand(t, 'openssl')) return;
  const g = await startGatewayGrid(t);
  const host = `shop.${DOMAIN}`;
  const pinned = makeCert(g, { san: host });
  const other = makeCert(g, { san: host });
  await g.registerName(g.user, 'shop', 'http', { tlsCertSha256: pinned.sha256 });
  await g.registerName(g.user, 'plain', 'http');
  await g.sync();
  await refused(t, g, g.user, 'shop', other, 'TUNNEL_CERT_NOT_PINNED');
  await refused(
    t,
    g,
    g.user,
    'plain',
    makeCert(g, { san: `plain.${DOMAIN}` }),
    'TUNNEL_CERT_NOT_PINNED',
  );
});

test('refused: a certificate not covering NAME.DOMAIN, an expired one, and a key not its own', async (t) => {
  if (!requireCommand(t, 'openssl')) return;
  const g = await startGatewayGrid(t);
  const host = `shop.${DOMAIN}`;
  for (const [name, cert, code] of [
    ['wrong', makeCert(g, { san: `elsewhere.${DOMAIN}` }), 'TUNNEL_CERT_WRONG_NAME'],
    [
      'old',
      makeCert(g, {
        san: `old.${DOMAIN}`,
        notBefore: new Date('2020-01-01T00:00:00Z'),
        notAfter: new Date('2020-01-02T00:00:00Z'),
      }),
      'TUNNEL_CERT_EXPIRED',
    ],
    [
      'early',
      makeCert(g, { san: `early.${DOMAIN}`, notBefore: new Date(Date.now() + 86_400_000) }),
      'TUNNEL_CERT_EXPIRED',
    ],
  ] as const) {
    await g.registerName(g.user, name, 'http', { tlsCertSha256: cert.sha256 });
    await g.sync();
    await refused(t, g, g.user, name, cert, code);
  }
  const mine = makeCert(g, { san: host });
  const stranger = makeCert(g, { san: host });
  await g.registerName(g.user, 'shop', 'http', { tlsCertSha256: mine.sha256 });
  await g.sync();
  await refused(
    t,
    g,
    g.user,
    'shop',
    { cert: mine.cert, key: stranger.key },
    'TUNNEL_CERT_KEY_MISMATCH',
  );
});

test('refused: a certificate on a tls-passthrough name; a pinned name’s tunnel without it; a stranger with it', async (t) => {
  if (!requireCommand(t, 'openssl')) return;
  const g = await startGatewayGrid(t);
  const site = makeCert(g, { san: `site.${DOMAIN}` });
  await g.registerName(g.user, 'site', 'tls-passthrough');
  const shop = makeCert(g, { san: `shop.${DOMAIN}` });
  await g.registerName(g.user, 'shop', 'http', { tlsCertSha256: shop.sha256 });
  const stranger = await g.newParty();
  await g.sync();
  await refused(t, g, g.user, 'site', site, 'TUNNEL_CERT_NOT_HTTP');
  await refused(t, g, g.user, 'shop', undefined, 'TUNNEL_CERT_REQUIRED');
  // The certificate and key are no authority: the tunnel must be the name's first.
  await refused(t, g, stranger, 'shop', shop, 'TUNNEL_NOT_NAME_OWNER');
});

test('a new pin on the name contract closes the tunnel that presented the old certificate', async (t) => {
  if (!requireCommand(t, 'openssl')) return;
  const g = await startGatewayGrid(t);
  const host = `shop.${DOMAIN}`;
  const first = makeCert(g, { san: host });
  const second = makeCert(g, { san: host });
  await g.registerName(g.user, 'shop', 'http', { tlsCertSha256: first.sha256 });
  await g.sync();
  const backend = await startEchoBackend(t);
  const run = g.tunnel(g.user, 'shop', backend.port, { tls: first });
  await waitFor('the tunnel', () => g.gateway.pool.count('shop') === 1);
  assert.equal(await tlsHandshakes(g, 'shop'), true);
  await g.registerName(g.user, 'shop', 'http', { tlsCertSha256: second.sha256 });
  await waitFor('the tunnel to close', () => g.gateway.pool.count('shop') === 0);
  assert.equal(await tlsHandshakes(g, 'shop'), false, 'the old certificate is no longer served');
  // Reconnecting with the old certificate is refused, so the client stops.
  await assert.rejects(run.done, hasCode('TUNNEL_CERT_NOT_PINNED'));
  assert.equal(run.connects, 1);
});

test('the private key goes only where the name pins its certificate: checked before a byte is sent', async (t) => {
  if (!requireCommand(t, 'openssl')) return;
  const g = await startGatewayGrid(t);
  const host = `shop.${DOMAIN}`;
  const pinned = makeCert(g, { san: host });
  const other = makeCert(g, { san: host });
  await g.registerName(g.user, 'shop', 'http', { tlsCertSha256: pinned.sha256 });
  await g.registerName(g.user, 'open', 'tls-passthrough');
  await g.sync();
  // A listener holding the gateway's own tunnel key (so the pin passes) that keeps every byte.
  const sink = await startTunnelSink(t, { key: g.cert.key, cert: g.cert.cert });
  const at = sink.at;
  const backend = await startEchoBackend(t);
  const open = (name: string, tls: Pem) =>
    openTunnel({
      view: () => g.user.client.follower.view,
      sync: () => g.user.client.follower.sync(),
      ledger: g.user.client.follower.ledger,
      identity: g.user.identity,
      name,
      address: at,
      to: { host: '127.0.0.1', port: backend.port },
      tls,
      handshakeMs: 500,
    });
  // Another certificate than the pin, and a name in passthrough: refused here, nothing sent.
  await assert.rejects(open('shop', other), hasCode('TUNNEL_CERT_NOT_PINNED'));
  await assert.rejects(open('open', pinned), hasCode('TUNNEL_CERT_NOT_HTTP'));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(sink.received().length, 0, 'no hello and no key left the client');
  // The control: for its name, the pinned certificate and its key are sent (the sink, which
  // holds the gateway's key, reads them; it never answers).
  await assert.rejects(open('shop', pinned));
  const key = pinned.key.toString().split('\n')[1]!;
  assert.ok(
    sink.received().toString('latin1').includes(key),
    'the certificate frame, key included',
  );
});
