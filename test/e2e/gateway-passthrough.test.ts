import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { DOMAIN, startGatewayGrid } from '../../src/gateway/gateway-test-kit.ts';
import { makeSelfSignedCert } from '../../src/gateway/index.ts';
import { waitFor } from '../support/node-fixture.ts';
import { requireCommand } from '../support/requirements.ts';

const run = promisify(execFile);

/** The backend's own certificate for NAME.DOMAIN: only the backend holds its key. */
function backendCert(dir: string, host: string): { key: Buffer; cert: Buffer } {
  const key = join(dir, 'site.key');
  const cert = join(dir, 'site.crt');
  makeSelfSignedCert(key, cert, { cn: host, days: 1, san: host });
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

test('tls-passthrough: curl and a WebSocket client verify the backend certificate through the gateway', async (t) => {
  if (!requireCommand(t, 'curl') || !requireCommand(t, 'openssl')) return;
  const grid = await startGatewayGrid(t);
  const host = `site.${DOMAIN}`;
  const tls = backendCert(grid.dir, host);
  const backend = createServer(tls, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`secret page for ${req.headers.host}`);
  });
  const wss = new WebSocketServer({ server: backend });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`tls echo ${String(m)}`)));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  t.after(() => {
    wss.close();
    backend.closeAllConnections();
    backend.close();
  });
  await grid.registerName(grid.user, 'site', 'tls-passthrough');
  grid.tunnel(grid.user, 'site', (backend.address() as AddressInfo).port);
  await waitFor('the tunnel', () => grid.gateway.pool.count('site') === 1);
  const port = grid.gateway.httpsPort;
  const certFile = join(grid.dir, 'site.crt');
  const { stdout } = await run('curl', [
    '-sS',
    '--cacert',
    certFile,
    '--resolve',
    `${host}:${port}:127.0.0.1`,
    `https://${host}:${port}/x`,
  ]);
  assert.equal(stdout, `secret page for ${host}:${port}`);
  // The gateway's own tunnel certificate is not the one the client saw.
  await assert.rejects(
    run('curl', [
      '-sS',
      '--cacert',
      join(grid.dir, 'tunnel.crt'),
      '--resolve',
      `${host}:${port}:127.0.0.1`,
      `https://${host}:${port}/x`,
    ]),
  );
  const ws = new WebSocket(`wss://${host}:${port}/`, {
    ca: tls.cert,
    lookup: (
      _h: string,
      _o: unknown,
      cb: (e: null, a: { address: string; family: number }[]) => void,
    ) => cb(null, [{ address: '127.0.0.1', family: 4 }]),
  } as never);
  const got = await new Promise<string>((resolve, reject) => {
    ws.once('open', () => ws.send('hi'));
    ws.once('message', (m) => resolve(String(m)));
    ws.once('error', reject);
  });
  ws.close();
  assert.equal(got, 'tls echo hi');
});
