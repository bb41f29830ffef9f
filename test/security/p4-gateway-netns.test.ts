import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { toHex } from '../../src/core/hex.ts';
import { DOMAIN, startGatewayGrid } from '../../src/gateway/gateway-test-kit.ts';
import { listeningTcp, NetnsRun } from '../../src/grid/index.ts';
import { Identity } from '../../src/identity/index.ts';
import { tempDir } from '../support/ledger-fixture.ts';
import { requireCommand, requireRoot } from '../support/requirements.ts';

/*
 * P4, across network namespaces: the client reaches the backend's service only through the
 * gateway. The backend (its service and its tunnel client) lives in its own namespace and
 * listens on loopback only; the client, in another, can reach the gateway but finds no
 * socket of the backend to connect to.
 */

const run = promisify(execFile);
const SRC = new URL('../../src/', import.meta.url).pathname;

/** Runs a node script in `namespace` without blocking this process (the gateway runs here). */
async function nodeIn(namespace: string, script: string): Promise<string> {
  const { stdout } = await run('ip', ['netns', 'exec', namespace, process.execPath, '-e', script], {
    timeout: 20_000,
  }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  return stdout.trim();
}

test('the backend has no listening socket reachable from the client’s namespace; the gateway reaches it', async (t) => {
  if (!requireRoot(t) || !requireCommand(t, 'ip') || !requireCommand(t, 'nsenter')) return;
  const net = NetnsRun.create();
  t.after(() => net.teardown());
  const backendHost = net.addHost('backend');
  const clientHost = net.addHost('client');
  const g = await startGatewayGrid(t, { host: net.hostAddress });
  const seed = randomBytes(64);
  const owner = Identity.fromSeed(seed);
  await g.user.client.submit(owner, 'twin.create', {
    encryptionKey: toHex(owner.encryptionPublicKey),
    relays: [],
  });
  await g.user.client.submit(owner, 'name.register', {
    name: 'hidden',
    gateway: g.gatewayId,
    mode: 'http',
    rules: {},
    nodes: [],
  });
  await g.sync();
  const dir = tempDir(t, 'vdc-gw-ns-');
  const backend = net.spawn(
    backendHost,
    'backend',
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { createServer } from 'node:http';
       import { Identity } from '${SRC}identity/index.ts';
       import { LedgerClient } from '${SRC}ledger/index.ts';
       import { startTunnel } from '${SRC}gateway/index.ts';
       createServer((q, r) => r.end('inside the backend')).listen(8080, '127.0.0.1');
       const client = await LedgerClient.connect({ url: process.env.LEDGER, home: process.env.HOME_DIR });
       startTunnel({
         view: () => client.follower.view, ledger: client.follower.ledger,
         identity: Identity.fromSeed(Buffer.from(process.env.SEED, 'hex')),
         name: 'hidden', to: { host: '127.0.0.1', port: 8080 },
       }).done.catch((e) => { console.error(e); process.exit(3); });`,
    ],
    {
      log: join(dir, 'backend.log'),
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        LEDGER: g.ledger.url,
        HOME_DIR: join(dir, 'home'),
        SEED: seed.toString('hex'),
      },
    },
  );
  assert.ok(backend.running);
  const viaGateway = `require('node:http').request({ host: '${net.hostAddress}', port: ${g.gateway.httpPort}, headers: { host: 'hidden.${DOMAIN}' } }, (r) => { let b = ''; r.on('data', (d) => b += d); r.on('end', () => console.log(r.statusCode, b)); }).on('error', (e) => console.log(e.code)).end()`;
  let answer = '';
  for (let i = 0; i < 100 && answer !== '200 inside the backend'; i++) {
    answer = await nodeIn(clientHost.namespace, viaGateway);
    if (answer !== '200 inside the backend') await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(
    answer,
    '200 inside the backend',
    'the client reaches the service through the gateway',
  );
  const direct = await nodeIn(
    clientHost.namespace,
    `require('node:net').connect({ host: '${backendHost.address}', port: 8080 }).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => console.log(e.code))`,
  );
  assert.equal(direct, 'ECONNREFUSED', 'nothing of the backend answers from the client namespace');
  const listeners = listeningTcp(backendHost.namespace);
  assert.ok(listeners.length > 0, 'the backend service is listening (on loopback)');
  for (const s of listeners)
    assert.ok(
      s.address === '127.0.0.1' || s.address === '::1',
      `listener on ${s.address}:${s.port}`,
    );
});
