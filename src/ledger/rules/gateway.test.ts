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
