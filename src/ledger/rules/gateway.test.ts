import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyOf, newIdentity, TxKit } from '../tx-test-kit.ts';

const body = (farm: number, extra: Record<string, unknown> = {}) => ({
  farm,
  domain: 'gw.example.org',
  tunnelAddress: '[2001:db8::1]:4443',
  tunnelSpkiSha256: '11'.repeat(32),
  ...extra,
});

describe('gateway.register', () => {
  it("registers a gateway in the signer's farm", () => {
    const kit = new TxKit();
    const farmer = kit.twin();
    const farm = kit.farm(farmer);
    const id = kit.submit(farmer.identity, 'gateway.register', farmer.twin, body(farm)).created
      .gateways!;
    assert.equal(id, 1);
    assert.equal(
      kit.projection.gatewayByDomain('gw.example.org')?.tunnelAddress,
      '[2001:db8::1]:4443',
    );
  });

  it('accepts a delegate of the farmer granted the type', () => {
    const kit = new TxKit();
    const farmer = kit.twin();
    const farm = kit.farm(farmer);
    const agent = newIdentity();
    kit.submit(farmer.identity, 'delegate.grant', farmer.twin, {
      key: keyOf(agent),
      types: ['gateway.register'],
      expiresAt: kit.now + 1000,
    });
    kit.submit(agent, 'gateway.register', farmer.twin, body(farm));
    assert.ok(kit.projection.gateway(1));
  });

  it("refuses a gateway in someone else's farm, an unknown farm, a taken domain", () => {
    const kit = new TxKit();
    const farmer = kit.twin();
    const farm = kit.farm(farmer);
    const other = kit.twin();
    kit.refuseTx(
      other.identity,
      'gateway.register',
      other.twin,
      body(farm),
      'GATEWAY_NOT_FARM_OWNER',
    );
    kit.refuseTx(farmer.identity, 'gateway.register', farmer.twin, body(7), 'FARM_UNKNOWN');
    kit.submit(farmer.identity, 'gateway.register', farmer.twin, body(farm));
    kit.refuseTx(
      farmer.identity,
      'gateway.register',
      farmer.twin,
      body(farm),
      'GATEWAY_DOMAIN_TAKEN',
    );
  });

  it('refuses malformed domains, addresses and hashes', () => {
    const kit = new TxKit();
    const farmer = kit.twin();
    const farm = kit.farm(farmer);
    for (const extra of [
      { domain: 'GW.example.org' },
      { domain: '-bad.example' },
      { tunnelAddress: '192.0.2.1' },
      { tunnelAddress: '192.0.2.1:70000' },
      { tunnelAddress: '[::1:4443' },
      { tunnelSpkiSha256: '11'.repeat(31) },
    ])
      kit.refuseTx(
        farmer.identity,
        'gateway.register',
        farmer.twin,
        body(farm, extra),
        'TX_BODY_INVALID',
      );
  });
});

describe('gateway.update', () => {
  const update = (gateway: number, extra: Record<string, unknown> = {}) => ({
    gateway,
    tunnelAddress: '198.51.100.7:7443',
    tunnelSpkiSha256: '22'.repeat(32),
    ...extra,
  });

  it('re-points the tunnel address and key, and keeps id, farm, domain and the names on it', () => {
    const kit = new TxKit();
    const farmer = kit.twin();
    const farm = kit.farm(farmer);
    const id = kit.gateway(farmer, farm);
    const user = kit.twin();
    kit.submit(user.identity, 'name.register', user.twin, {
      name: 'web',
      gateway: id,
      mode: 'http',
      rules: {},
      nodes: [],
    });
    const before = kit.projection.gateway(id)!;
    kit.submit(farmer.identity, 'gateway.update', farmer.twin, update(id));
    assert.deepEqual(kit.projection.gateway(id), {
      ...before,
      tunnelAddress: '198.51.100.7:7443',
      tunnelSpkiSha256: '22'.repeat(32),
    });
    assert.equal(kit.projection.gatewayByDomain('gw.example.org')?.id, id);
    assert.equal(kit.projection.nameOnGateway(id, 'web')?.twin, user.twin);
  });

  it("accepts the farmer's delegate granted the type, and no one else", () => {
    const kit = new TxKit();
    const farmer = kit.twin();
    const id = kit.gateway(farmer, kit.farm(farmer));
    const agent = newIdentity();
    kit.submit(farmer.identity, 'delegate.grant', farmer.twin, {
      key: keyOf(agent),
      types: ['gateway.register'],
      expiresAt: kit.now + 1000,
    });
    // a delegate for register is not one for update: re-keying is its own power
    kit.refuseTx(agent, 'gateway.update', farmer.twin, update(id), 'DELEGATION_TYPE_NOT_GRANTED');
    const other = kit.twin();
    kit.farm(other);
    kit.refuseTx(
      other.identity,
      'gateway.update',
      other.twin,
      update(id),
      'GATEWAY_NOT_FARM_OWNER',
    );
    kit.refuseTx(farmer.identity, 'gateway.update', farmer.twin, update(id + 1), 'GATEWAY_UNKNOWN');
    assert.equal(kit.projection.gateway(id)?.tunnelAddress, '192.0.2.1:4443');
    const agent2 = newIdentity();
    kit.submit(farmer.identity, 'delegate.grant', farmer.twin, {
      key: keyOf(agent2),
      types: ['gateway.update'],
      expiresAt: kit.now + 1000,
    });
    kit.submit(agent2, 'gateway.update', farmer.twin, update(id));
    assert.equal(kit.projection.gateway(id)?.tunnelAddress, '198.51.100.7:7443');
  });

  it('refuses malformed bodies, and a domain or farm change (not an update field)', () => {
    const kit = new TxKit();
    const farmer = kit.twin();
    const id = kit.gateway(farmer, kit.farm(farmer));
    for (const body of [
      update(id, { tunnelAddress: '198.51.100.7' }),
      update(id, { tunnelSpkiSha256: 'zz'.repeat(32) }),
      update(id, { domain: 'other.example.org' }),
      update(id, { farm: 1 }),
      update(0),
      { gateway: id, tunnelAddress: '198.51.100.7:7443' },
    ])
      kit.refuseTx(farmer.identity, 'gateway.update', farmer.twin, body, 'TX_BODY_INVALID');
    assert.equal(kit.projection.gateway(id)?.tunnelAddress, '192.0.2.1:4443');
  });
});
