/*
 * The owner's certificate for a name a node serves, end to end on the namespace grid
 * (docs/node-gateway.md, "The owner's certificate"): a test CA issues a certificate for
 * web.DOMAIN; the name, in http mode, pins it and lists the node; `vdc deploy` reads the
 * chain and key files named in the deploy file, checks them against the pin and seals the
 * key to the node. curl, trusting only the test CA, gets the container's page over HTTPS
 * through the node's tunnel, and the certificate it saw is the owner's. A renewal — a new
 * pin, then `vdc deployment update` with the new files — serves the new certificate. The
 * plaintext keys never reach the node's data folder or its log.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startNetnsGrid } from '../../src/grid/index.ts';
import { serveBusyboxImage, waitUntil } from '../support/container-grid.ts';
import {
  curlName,
  curlNameTls,
  filesHoldingKey,
  GRID_DOMAIN,
  type IssuedCert,
  issueCert,
  makeTestCa,
  startGridGateway,
} from '../support/node-gateway-grid.ts';
import { requireCommand, requireRoot } from '../support/requirements.ts';
import { runVdc } from '../support/run-vdc.ts';

const PAGE = 'hello over https through the node';

describe('the owner’s certificate on a node-served name, on the namespace grid', () => {
  test('curl gets the container’s page over HTTPS with the owner’s certificate; a renewal serves the new one', async (t) => {
    if (
      !requireRoot(t) ||
      !requireCommand(t, 'crun') ||
      !requireCommand(t, 'busybox') ||
      !requireCommand(t, 'curl') ||
      !requireCommand(t, 'nsenter') ||
      !requireCommand(t, 'openssl')
    )
      return;
    const grid = await startNetnsGrid({
      nodes: 1,
      test: t,
      ledgerHeartbeatMs: 1000,
      nodeArgs: ['--report-interval', '1'],
    });
    const node = grid.nodes[0]!;
    const { url, sha256 } = await serveBusyboxImage(grid);
    const gw = await startGridGateway(grid, t);
    const pki = join(grid.dir, 'pki');
    mkdirSync(pki);
    const ca = makeTestCa(pki);
    const host = `web.${GRID_DOMAIN}`;
    const first = issueCert(ca, host);
    const second = issueCert(ca, host);

    // The name, in http mode, pinning the first certificate and listing the node.
    const rules = (pin: string) => {
      const file = join(grid.dir, `rules-${pin.slice(0, 8)}.json`);
      // A short request deadline: the gateway's timer of a request answered 502 is not
      // cleared and would hold this process for the default 300 s.
      writeFileSync(file, JSON.stringify({ timeouts: { requestMs: 10_000 }, tlsCertSha256: pin }));
      return file;
    };
    const named = await runVdc(
      [
        'name',
        'register',
        'web',
        '--gateway',
        String(gw.id),
        '--mode',
        'http',
        '--node',
        String(node.id),
        '--rules',
        rules(first.sha256),
      ],
      { env: grid.user.env },
    );
    assert.equal(named.code, 0, named.stderr);

    // The deploy file names the certificate files relative to itself.
    const site = join(grid.dir, 'site');
    mkdirSync(site);
    const file = join(site, 'web.json');
    const writeDeployFile = (cert: IssuedCert) => {
      copyFileSync(cert.chainFile, join(site, 'chain.pem'));
      copyFileSync(cert.keyFile, join(site, 'key.pem'));
      writeFileSync(
        file,
        JSON.stringify({
          workloads: [
            {
              name: 'web',
              kind: 'container',
              spec: {
                image: { url, sha256 },
                resources: { cpu: 250, memory: 64 * 2 ** 20 },
                entrypoint: [
                  '/bin/sh',
                  '-c',
                  `echo '${PAGE}' > /etc/index.html; exec httpd -f -p 127.0.0.1:8080 -h /etc`,
                ],
              },
            },
            {
              name: 'web-gw',
              kind: 'gateway',
              spec: {
                name: 'web',
                gateway: gw.id,
                workload: 'web',
                port: 8080,
                tls: { cert: 'chain.pem', key: './key.pem' },
              },
            },
          ],
        }),
      );
    };
    writeDeployFile(first);
    const deployed = await runVdc(['deploy', '--node', String(node.id), file], {
      env: grid.user.env,
    });
    assert.equal(deployed.code, 0, deployed.stderr + deployed.stdout);
    assert.match(deployed.stderr, /web-gw: the certificate is the one name web pins/);
    assert.match(deployed.stderr, /sealed 1 TLS key\(s\) to node/);
    assert.match(
      deployed.stdout,
      new RegExp(
        `web-gw \\(gateway\\): ok — serving web .* over TLS with certificate ${first.sha256.slice(0, 16)}`,
      ),
    );
    const contract = Number(/deployed contract (\d+)/.exec(deployed.stdout)?.[1]);
    assert.ok(contract > 0, deployed.stdout);

    // curl, trusting only the test CA, reaches the page inside the container over HTTPS,
    // and the certificate it saw is the owner's first one.
    const page = await waitUntil('the page over https', async () => {
      const r = await curlNameTls(gw, 'web', ca.certFile, '/index.html');
      return r.status === 200 ? r : undefined;
    });
    assert.equal(page.body.trim(), PAGE);
    assert.equal(page.leafSha256, first.sha256);
    // Plain HTTP to a name served over TLS is redirected to it.
    assert.equal((await curlName(gw, 'web', '/index.html')).status, 308);

    // Renewal: the owner pins the second certificate, which closes the tunnel with the
    // first (nothing serves the name over TLS for a moment), then updates the deployment.
    const repinned = await runVdc(['name', 'update', 'web', '--rules', rules(second.sha256)], {
      env: grid.user.env,
    });
    assert.equal(repinned.code, 0, repinned.stderr);
    await waitUntil('the first certificate no longer served', async () => {
      const r = await curlNameTls(gw, 'web', ca.certFile, '/index.html');
      return r.leafSha256 !== first.sha256;
    });
    writeDeployFile(second);
    await grid.user.closeRelay();
    const updated = await runVdc(
      ['deployment', 'update', '--contract', String(contract), '--json', file],
      { env: grid.user.env },
    );
    assert.equal(updated.code, 0, updated.stderr + updated.stdout);
    const result = JSON.parse(updated.stdout) as {
      version: number;
      workloads: { name: string; state: string; message: string }[];
    };
    assert.equal(result.version, 2);
    const gwState = result.workloads.find((w) => w.name === 'web-gw')!;
    assert.equal(gwState.state, 'ok', gwState.message);
    assert.match(gwState.message, new RegExp(second.sha256.slice(0, 16)));
    const renewed = await waitUntil('the second certificate served', async () => {
      const r = await curlNameTls(gw, 'web', ca.certFile, '/index.html');
      return r.status === 200 && r.leafSha256 === second.sha256 ? r : undefined;
    });
    assert.equal(renewed.body.trim(), PAGE);

    // The plaintext keys are nowhere on the node: not in its data folder, not in its log,
    // not in what it answers its owner; nor in what the CLI printed.
    await grid.user.closeRelay();
    const got = await runVdc(['deployment', 'get', '--contract', String(contract), '--json'], {
      env: grid.user.env,
    });
    assert.equal(got.code, 0, got.stderr);
    for (const cert of [first, second]) {
      assert.deepEqual(filesHoldingKey(node.dataDir, cert.keyPem), [], 'the node’s data');
      assert.deepEqual(filesHoldingKey(node.log, cert.keyPem), [], 'the node’s log');
      const body = cert.keyPem.split('\n')[1]!;
      for (const out of [deployed, updated, got])
        assert.ok(!(out.stdout + out.stderr).includes(body), 'the CLI printed the key');
    }
    assert.ok(readFileSync(node.log, 'utf8').includes('gateway tunnel open'), 'the log is read');
  });
});
