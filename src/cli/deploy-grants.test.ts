import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { fromHex } from '../core/hex.ts';
import { verify } from '../core/signing.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import { startGatewayGrid } from '../gateway/gateway-test-kit.ts';
import type { Workload } from '../node/index.ts';
import { withTunnelGrants } from './deploy-grants.ts';

const web: Workload = {
  name: 'web',
  kind: 'container',
  spec: {
    image: { url: 'https://example.org/i.tar', sha256: 'cd'.repeat(32) },
    resources: { cpu: 100, memory: 2 ** 26 },
  },
};

function refused(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof VdcError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('tunnel grants of gateway workloads', () => {
  test('signs the missing grant, keeps an explicit one, and checks the name first', async (t) => {
    const g = await startGatewayGrid(t);
    const node = await g.newNode();
    const other = await g.newParty();
    await g.registerName(g.user, 'site', 'http', {}, [node.id]);
    await g.registerName(g.user, 'unlisted', 'http', {}, []);
    await g.registerName(other, 'theirs', 'http', {}, [node.id]);
    await g.sync();
    const ctx = {
      identity: g.user.identity,
      view: g.user.client.follower.view,
      ledger: g.user.client.follower.ledger,
      twin: g.user.twin,
      node: node.id,
    };
    const gateway = (name: string, extra: Record<string, unknown> = {}): Workload => ({
      name: 'gw',
      kind: 'gateway',
      spec: { name, gateway: g.gatewayId, workload: 'web', port: 8080, ...extra },
    });
    const file = (w: Workload) => ({ workloads: [web, w] });

    const { file: signed, signed: names } = withTunnelGrants(file(gateway('site')), ctx);
    assert.deepEqual(names, ['gw']);
    const grant = signed.workloads[1]!.spec['grant'] as string;
    const terms = { ledger: ctx.ledger, gateway: g.gatewayId, name: 'site', node: node.id };
    assert.ok(
      verify(
        SIGNING_TAGS.grant,
        { purpose: 'gateway-tunnel', ...terms },
        fromHex(grant, 'grant', 64),
        g.user.identity.signingPublicKey,
      ),
      'the grant is the holder’s signature over (ledger, gateway, name, node)',
    );
    assert.equal(signed.workloads[0], web, 'other workloads are untouched');

    // an explicit grant is kept as it is, even for a name another twin holds
    const given = 'ab'.repeat(64);
    const kept = withTunnelGrants(file(gateway('theirs', { grant: given })), ctx);
    assert.equal(kept.file.workloads[1]!.spec['grant'], given);
    assert.deepEqual(kept.signed, []);

    assert.throws(
      () => withTunnelGrants(file(gateway('nobody')), ctx),
      refused('DEPLOY_NAME_UNKNOWN', /vdc name register nobody/),
    );
    assert.throws(
      () => withTunnelGrants(file(gateway('theirs')), ctx),
      refused('DEPLOY_NAME_NOT_YOURS', /belongs to twin/),
    );
    assert.throws(
      () => withTunnelGrants(file(gateway('unlisted')), ctx),
      refused('DEPLOY_NAME_NODE_NOT_LISTED', /vdc name update unlisted --node/),
    );
    assert.throws(
      () =>
        withTunnelGrants(
          file({ ...gateway('site'), spec: { ...gateway('site').spec, gateway: g.gatewayId + 7 } }),
          ctx,
        ),
      refused('DEPLOY_NAME_OTHER_GATEWAY', /is on gateway/),
    );
  });
});
