/*
 * P4, the owner's certificate for a name a node serves (docs/node-gateway.md, "The owner's
 * certificate"), with real crun containers, a real gateway and the node agent in this
 * process. The certificate's key travels sealed to the node: sealed to another node, for
 * another name or as a container secret, the node's checks refuse it from the seal's
 * header; altered, it does not open at apply; either way the deployment is refused with
 * the seal's code; a certificate that is not the name's pin is refused by the gateway
 * (TUNNEL_CERT_NOT_PINNED). Each time nothing on the node changes and nothing answers over
 * TLS for the name. A pin changed later closes the node's tunnel and its status says why;
 * and the plaintext key is never in the node's data folder, logs or answers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ErrorCode } from '../../src/core/error-codes.ts';
import { Identity } from '../../src/identity/index.ts';
import { type SecretContext, sealSecret, type Workload } from '../../src/node/index.ts';
import { tempDir } from '../support/ledger-fixture.ts';
import { call, contractAndDeployment, type NodeGrid, waitFor } from '../support/node-fixture.ts';
import {
  curlName,
  curlNameTls,
  filesHoldingKey,
  GRID_DOMAIN,
  type GridGateway,
  type IssuedCert,
  issueCert,
  makeTestCa,
  NODE_PAGE,
  pidsWith,
  startNodeGatewayGrid,
  type TestCa,
} from '../support/node-gateway-grid.ts';
import { deploymentRefused, entries, nodeFootprint } from '../support/node-refusal.ts';
import { requireCommand, requireRoot } from '../support/requirements.ts';

type T = import('node:test').TestContext;

const ready = (t: T) =>
  requireRoot(t) &&
  requireCommand(t, 'crun') &&
  requireCommand(t, 'busybox') &&
  requireCommand(t, 'curl') &&
  requireCommand(t, 'nsenter') &&
  requireCommand(t, 'openssl');

function testCa(t: T): TestCa {
  const dir = join(tempDir(t, 'vdc-p4-ca-'), 'pki');
  mkdirSync(dir);
  return makeTestCa(dir);
}

/** Everything the node holds: deployments, crun's containers, gateway folders, forwarders. */
function everything(grid: NodeGrid): string {
  return nodeFootprint(grid, {
    gateways: entries(join(grid.nodeData, 'gateways')),
    forwarders: pidsWith(join(grid.nodeData, 'gateways')).length,
  });
}

/** The `tls` of a gateway workload: the chain, and the key sealed for `context` to `to`. */
function tlsFor(cert: IssuedCert, to: Uint8Array, context: SecretContext) {
  return { cert: readFileSync(cert.chainFile, 'utf8'), key: sealSecret(cert.keyPem, to, context) };
}

async function refusedWith(
  grid: NodeGrid,
  gw: GridGateway,
  ca: TestCa,
  name: string,
  workloads: Workload[],
  code: ErrorCode,
) {
  await deploymentRefused(grid, workloads, code, () => everything(grid));
  const tls = await curlNameTls(gw, name, ca.certFile, '/index.html');
  assert.equal(tls.status, 0, `${name} answered over TLS: ${tls.body}`);
  assert.equal(tls.leafSha256, '', 'no certificate is served for the name');
  const plain = await curlName(gw, name, '/index.html');
  assert.notEqual(plain.status, 200);
  assert.doesNotMatch(plain.body, new RegExp(NODE_PAGE));
}

describe('P4: the owner’s certificate on a node’s gateway workload', () => {
  test('a TLS key sealed to another node, for another name or as a secret does not open', async (t) => {
    if (!ready(t)) return;
    const { grid, gw, node, register, web, grantFor, gatewayWorkload } =
      await startNodeGatewayGrid(t);
    const ca = testCa(t);
    const shop = issueCert(ca, `shop.${GRID_DOMAIN}`);
    await register('shop', [node], { tlsCertSha256: shop.sha256 });
    const grant = grantFor({ name: 'shop' });
    const mine = grid.nodeIdentity.encryptionPublicKey;
    const keyOf = { twin: grid.user.id, workload: 'web-gw', name: 'shop' };
    const tlsKey = { ...keyOf, use: 'gateway-tls-key' as const };
    const cases: [Uint8Array, SecretContext, ErrorCode][] = [
      [
        Identity.fromSeed(randomBytes(64)).encryptionPublicKey,
        tlsKey,
        'SECRET_SEALED_FOR_OTHER_NODE',
      ],
      [mine, { ...tlsKey, name: 'other' }, 'SECRET_SEALED_FOR_OTHER_USE'],
      [mine, { ...tlsKey, workload: 'other-gw' }, 'SECRET_SEALED_FOR_OTHER_USE'],
      [mine, keyOf, 'SECRET_SEALED_FOR_OTHER_USE'],
    ];
    for (const [to, context, code] of cases)
      await refusedWith(
        grid,
        gw,
        ca,
        'shop',
        [web, gatewayWorkload('shop', grant, 'web', tlsFor(shop, to, context))],
        code,
      );
    // Altered: the header still names this node and use, so the checks pass; the AEAD
    // refuses it at apply, and the engine removes the container it had started.
    const altered = Buffer.from(sealSecret(shop.keyPem, mine, tlsKey), 'base64');
    altered[60] = (altered[60] ?? 0) ^ 0x01;
    await refusedWith(
      grid,
      gw,
      ca,
      'shop',
      [
        web,
        gatewayWorkload('shop', grant, 'web', {
          cert: readFileSync(shop.chainFile, 'utf8'),
          key: altered.toString('base64'),
        }),
      ],
      'SECRET_SEAL_TAMPERED',
    );
    // The chain is checked by the node before anything runs (check 6d).
    const broken = {
      cert: readFileSync(shop.chainFile, 'utf8').replace(/\n[A-Za-z0-9+/]{12}/, '\nAAAAAAAAAAAA'),
      key: sealSecret(shop.keyPem, mine, tlsKey),
    };
    await refusedWith(
      grid,
      gw,
      ca,
      'shop',
      [web, gatewayWorkload('shop', grant, 'web', broken)],
      'DEPLOYMENT_GATEWAY_TLS_INVALID',
    );
  });

  test('a certificate that is not the pin is refused by the gateway; a pin changed later shows in the status; the key is never on disk or in logs', async (t) => {
    if (!ready(t)) return;
    const { grid, gw, node, register, web, grantFor, gatewayWorkload, logs } =
      await startNodeGatewayGrid(t);
    const ca = testCa(t);
    const first = issueCert(ca, `shop.${GRID_DOMAIN}`);
    const second = issueCert(ca, `shop.${GRID_DOMAIN}`);
    await register('shop', [node], { tlsCertSha256: first.sha256 });
    const grant = grantFor({ name: 'shop' });
    const context = {
      twin: grid.user.id,
      workload: 'web-gw',
      name: 'shop',
      use: 'gateway-tls-key' as const,
    };
    const mine = grid.nodeIdentity.encryptionPublicKey;
    // The CLI would refuse this one (DEPLOY_TLS_NOT_PINNED); sent straight, the gateway does.
    await refusedWith(
      grid,
      gw,
      ca,
      'shop',
      [web, gatewayWorkload('shop', grant, 'web', tlsFor(second, mine, context))],
      'TUNNEL_CERT_NOT_PINNED',
    );

    // The pinned certificate is served, from the node's tunnel.
    const { contract, deployment } = await contractAndDeployment(grid, grid.user, [
      web,
      gatewayWorkload('shop', grant, 'web', tlsFor(first, mine, context)),
    ]);
    await call(grid.user, grid.agent, 'deployment.deploy', { deployment } as never);
    const page = await waitFor(
      'the page over TLS',
      async () => {
        const r = await curlNameTls(gw, 'shop', ca.certFile, '/index.html');
        return r.status === 200 ? r : undefined;
      },
      30_000,
    );
    assert.equal(page.body.trim(), NODE_PAGE);
    assert.equal(page.leafSha256, first.sha256, 'the owner’s pinned certificate was served');
    const get = async () =>
      (await call(grid.user, grid.agent, 'deployment.get', { contract })) as {
        workloads: { name: string; state: string; message: string }[];
      };
    const ok = (await get()).workloads.find((w) => w.name === 'web-gw')!;
    assert.equal(ok.state, 'ok');
    assert.match(ok.message, new RegExp(`over TLS with certificate ${first.sha256.slice(0, 16)}`));

    // The owner pins another certificate: the gateway closes the node's tunnel and refuses
    // its reconnection; the status says why, and the name is no longer served over TLS.
    await register('shop', [node], { tlsCertSha256: second.sha256 });
    const failed = await waitFor(
      'the refusal in the status',
      async () => {
        const w = (await get()).workloads.find((x) => x.name === 'web-gw')!;
        return w.state === 'failed' && /refused/.test(w.message) ? w : undefined;
      },
      40_000,
    );
    assert.match(failed.message, /TUNNEL_CERT_NOT_PINNED/);
    const after = await curlNameTls(gw, 'shop', ca.certFile, '/index.html');
    assert.equal(after.status, 0);
    assert.equal(after.leafSha256, '');

    // The plaintext key: not in the node's data folder, its logs, or its answers.
    const diagnostics = await call(grid.user, grid.agent, 'node.diagnostics', {
      contract,
      tail: 65_536,
    });
    for (const cert of [first, second]) {
      assert.deepEqual(filesHoldingKey(grid.nodeData, cert.keyPem), []);
      const body = cert.keyPem.split('\n')[1]!;
      assert.ok(body.length > 16);
      assert.ok(logs.length > 0, 'the node did log');
      assert.ok(!logs.some((l) => l.includes(body)), 'a log line holds the key');
      assert.ok(!JSON.stringify(await get()).includes(body), 'deployment.get holds the key');
      assert.ok(!JSON.stringify(diagnostics).includes(body), 'node.diagnostics holds the key');
    }
  });
});
