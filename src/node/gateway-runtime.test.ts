import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { requireCommand } from '../../test/support/requirements.ts';
import { VdcError } from '../core/errors.ts';
import { jsonLogger } from '../core/log.ts';
import { makeSelfSignedCert } from '../gateway/index.ts';
import { Identity } from '../identity/index.ts';
import type { Projection } from '../ledger/index.ts';
import type { Workload } from './deployment-document.ts';
import { type ContainerNetns, GatewayRuntime } from './gateway-runtime.ts';
import { sealSecret, tlsKeyContext } from './secret-seal.ts';

/*
 * The gateway runtime's refusals that need neither root nor a container: the forwarding
 * and the tunnel themselves are tested with the real container runtime in
 * test/e2e/node-gateway.test.ts and test/security/p4-node-gateway.test.ts.
 */

type T = import('node:test').TestContext;

/** Stands in for the container runtime, which needs root: no container is running. */
const fakeNoContainers: ContainerNetns = { netns: async () => undefined };

const workload: Workload = {
  name: 'gw',
  kind: 'gateway',
  spec: { name: 'site', gateway: 1, workload: 'web', port: 8080, grant: 'ab'.repeat(64) },
};

function runtime(
  t: T,
  identity = Identity.fromSeed(randomBytes(64)),
): { gateways: GatewayRuntime; dir: string; data: string } {
  const data = mkdtempSync(join(tmpdir(), 'vdc-gwrt-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const gateways = new GatewayRuntime({
    data,
    identity,
    containers: fakeNoContainers,
    logger: jsonLogger(() => {}),
  });
  t.after(() => gateways.close());
  return { gateways, dir: join(data, 'gateways'), data };
}

function refused(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof VdcError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  };
}

describe('gateway runtime', () => {
  test('keeps its folder traverse-only', (t) => {
    const { dir } = runtime(t);
    assert.equal(statSync(dir).mode & 0o777, 0o711);
  });

  test('refuses to apply before the agent gave it the ledger view', async (t) => {
    const { gateways, dir } = runtime(t);
    await assert.rejects(
      gateways.apply(1, workload, { twin: 1 }),
      refused('GATEWAY_WORKLOAD_UNAVAILABLE'),
    );
    assert.deepEqual(readdirSync(dir), []);
  });

  test('refuses a gateway whose container is not running, leaving nothing behind', async (t) => {
    const { gateways, dir } = runtime(t);
    gateways.attachLedger({ view: () => ({}) as Projection, ledger: '00'.repeat(32), node: 1 });
    await assert.rejects(gateways.apply(1, workload, { twin: 1 }), (err: unknown) => {
      refused('GATEWAY_WORKLOAD_NOT_RUNNING')(err);
      assert.match((err as Error).message, /container web is not running/);
      return true;
    });
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(gateways.status(1, 'gw'), undefined);
    assert.equal(gateways.logs(1, 'gw', 1000), '');
    await gateways.remove(1, 'gw'); // removing what is not there is fine
  });

  test('refuses a TLS key sealed to another node or for another name before anything starts', async (t) => {
    if (!requireCommand(t, 'openssl')) return;
    const node = Identity.fromSeed(randomBytes(64));
    const stranger = Identity.fromSeed(randomBytes(64));
    const { gateways, dir, data } = runtime(t, node);
    let asked = 0;
    gateways.attachLedger({ view: () => ({}) as Projection, ledger: '00'.repeat(32), node: 1 });
    const pem = join(data, 'site');
    makeSelfSignedCert(`${pem}.key`, `${pem}.crt`, { cn: 'site', days: 1, san: 'site.gw.test' });
    const key = readFileSync(`${pem}.key`, 'utf8');
    const cert = readFileSync(`${pem}.crt`, 'utf8');
    const withKey = (sealed: string): Workload => ({
      ...workload,
      spec: { ...workload.spec, tls: { cert, key: sealed } },
    });
    const counting = new GatewayRuntime({
      data,
      identity: node,
      containers: {
        netns: async () => {
          asked++;
          return undefined;
        },
      },
      logger: jsonLogger(() => {}),
    });
    t.after(() => counting.close());
    counting.attachLedger({ view: () => ({}) as Projection, ledger: '00'.repeat(32), node: 1 });
    for (const [sealed, code] of [
      [
        sealSecret(key, stranger.encryptionPublicKey, tlsKeyContext(1, 'gw', 'site')),
        'SECRET_SEALED_FOR_OTHER_NODE',
      ],
      [
        sealSecret(key, node.encryptionPublicKey, tlsKeyContext(1, 'gw', 'other')),
        'SECRET_SEALED_FOR_OTHER_USE',
      ],
      [
        sealSecret(key, node.encryptionPublicKey, { twin: 1, workload: 'gw', name: 'site' }),
        'SECRET_SEALED_FOR_OTHER_USE',
      ],
      [
        sealSecret(key, node.encryptionPublicKey, tlsKeyContext(2, 'gw', 'site')),
        'SECRET_SEALED_FOR_OTHER_USE',
      ],
    ] as const)
      await assert.rejects(counting.apply(1, withKey(sealed), { twin: 1 }), refused(code));
    assert.equal(asked, 0, 'no container was looked for, no forwarder started');
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(counting.status(1, 'gw'), undefined);
    // The right seal opens, and the next step (the container) is what stops it here.
    await assert.rejects(
      gateways.apply(
        1,
        withKey(sealSecret(key, node.encryptionPublicKey, tlsKeyContext(1, 'gw', 'site'))),
        { twin: 1 },
      ),
      refused('GATEWAY_WORKLOAD_NOT_RUNNING'),
    );
  });
});
