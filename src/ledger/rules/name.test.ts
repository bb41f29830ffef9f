import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TxKit } from '../tx-test-kit.ts';

function setup() {
  const kit = new TxKit();
  const grid = kit.grid();
  const owner = kit.twin();
  return { kit, ...grid, owner };
}

const body = (gateway: number, extra: Record<string, unknown> = {}) => ({
  name: 'shop',
  gateway,
  mode: 'tls-passthrough',
  rules: {},
  nodes: [],
  ...extra,
});

describe('name.register', () => {
  it('gives the name to the twin on a registered gateway', () => {
    const { kit, gateway, node, owner } = setup();
    const rules = {
      rateLimit: { requests: 100, perSeconds: 1 },
      allow: ['192.0.2.0/24', '2001:db8::/32'],
      timeouts: { idleMs: 1000 },
    };
    kit.submit(
      owner.identity,
      'name.register',
      owner.twin,
      body(gateway, { rules, nodes: [node.node] }),
    );
    const n = kit.projection.name('shop')!;
    assert.equal(n.twin, owner.twin);
    assert.deepEqual(n.rules, rules);
    assert.equal(kit.projection.nameOnGateway(gateway, 'shop')?.name, 'shop');
    assert.equal(kit.projection.nameOnGateway(gateway + 1, 'shop'), undefined);
  });

  it('refuses a name already held, an unknown gateway, an unknown node', () => {
    const { kit, gateway, owner, farmer } = setup();
    kit.submit(owner.identity, 'name.register', owner.twin, body(gateway));
    kit.refuseTx(farmer.identity, 'name.register', farmer.twin, body(gateway), 'NAME_TAKEN');
    kit.refuseTx(
      owner.identity,
      'name.register',
      owner.twin,
      body(9, { name: 'other' }),
      'NAME_GATEWAY_UNKNOWN',
    );
    kit.refuseTx(
      owner.identity,
      'name.register',
      owner.twin,
      body(gateway, { name: 'other', nodes: [42] }),
      'NAME_NODE_UNKNOWN',
    );
  });

  it('refuses HTTP-only rules in tls-passthrough mode, accepts them in http mode', () => {
    const { kit, gateway, owner } = setup();
    for (const rules of [
      { methods: ['GET'] },
      { pathPrefixes: ['/api'] },
      { maxBodyBytes: 10 },
      { timeouts: { requestMs: 5 } },
    ])
      kit.refuseTx(
        owner.identity,
        'name.register',
        owner.twin,
        body(gateway, { rules }),
        'TX_BODY_INVALID',
      );
    const rules = {
      methods: ['GET', 'HEAD'],
      pathPrefixes: ['/api/'],
      maxBodyBytes: 1024,
      maxHeaderBytes: 8192,
      timeouts: { requestMs: 5 },
    };
    kit.submit(owner.identity, 'name.register', owner.twin, body(gateway, { mode: 'http', rules }));
    assert.deepEqual(kit.projection.name('shop')?.rules, rules);
  });

  it('pins a TLS certificate (tlsCertSha256) for http mode only, as 64 lowercase hex', () => {
    const { kit, gateway, owner } = setup();
    const pin = 'ab'.repeat(32);
    for (const extra of [
      { rules: { tlsCertSha256: pin } },
      { mode: 'http', rules: { tlsCertSha256: pin.toUpperCase() } },
      { mode: 'http', rules: { tlsCertSha256: pin.slice(2) } },
      { mode: 'http', rules: { tlsCertSha256: `${pin}00` } },
      { mode: 'http', rules: { tlsCertSha256: 42 } },
    ])
      kit.refuseTx(
        owner.identity,
        'name.register',
        owner.twin,
        body(gateway, extra),
        'TX_BODY_INVALID',
      );
    assert.equal(kit.projection.name('shop'), undefined);
    kit.submit(
      owner.identity,
      'name.register',
      owner.twin,
      body(gateway, { mode: 'http', rules: { tlsCertSha256: pin } }),
    );
    assert.equal(kit.projection.name('shop')?.rules.tlsCertSha256, pin);
    // Moving the name to tls-passthrough while it pins a certificate is refused too.
    kit.refuseTx(
      owner.identity,
      'name.update',
      owner.twin,
      body(gateway, { rules: { tlsCertSha256: pin } }),
      'TX_BODY_INVALID',
    );
    assert.equal(kit.projection.name('shop')?.mode, 'http');
  });

  it('refuses malformed names and rules', () => {
    const { kit, gateway, owner } = setup();
    for (const extra of [
      { name: 'Shop' },
      { name: 'a.b' },
      { name: '-x' },
      { mode: 'tcp' },
      { rules: { allow: ['10.0.0.0/33'] } },
      { rules: { deny: ['not-an-ip/8'] } },
      { rules: { rateLimit: { requests: 0, perSeconds: 1 } } },
      { rules: { unknown: true } },
      { rules: { timeouts: {} } },
      { mode: 'http', rules: { methods: ['TRACE'] } },
      { mode: 'http', rules: { pathPrefixes: ['api'] } },
      { nodes: [1, 1] },
    ])
      kit.refuseTx(
        owner.identity,
        'name.register',
        owner.twin,
        body(gateway, extra),
        'TX_BODY_INVALID',
      );
  });
});

describe('name.update and name.release', () => {
  it('lets the holder re-point and release the name; then another twin may take it', () => {
    const { kit, gateway, node, owner, farmer, farm } = setup();
    const gateway2 = kit.gateway(farmer, farm, 'gw2.example.org');
    kit.submit(owner.identity, 'name.register', owner.twin, body(gateway));
    kit.submit(owner.identity, 'name.update', owner.twin, body(gateway2, { nodes: [node.node] }));
    assert.equal(kit.projection.name('shop')?.gateway, gateway2);
    assert.deepEqual(
      kit.projection.namesOfGateway(gateway2).map((n) => n.name),
      ['shop'],
    );
    kit.submit(owner.identity, 'name.release', owner.twin, { name: 'shop' });
    assert.equal(kit.projection.name('shop'), undefined);
    kit.submit(farmer.identity, 'name.register', farmer.twin, body(gateway));
    assert.equal(kit.projection.name('shop')?.twin, farmer.twin);
  });

  it('refuses update or release by another twin, and of an unknown name', () => {
    const { kit, gateway, owner, farmer } = setup();
    kit.submit(owner.identity, 'name.register', owner.twin, body(gateway));
    kit.refuseTx(farmer.identity, 'name.update', farmer.twin, body(gateway), 'NAME_NOT_OWNER');
    kit.refuseTx(farmer.identity, 'name.release', farmer.twin, { name: 'shop' }, 'NAME_NOT_OWNER');
    kit.refuseTx(owner.identity, 'name.release', owner.twin, { name: 'nope' }, 'NAME_UNKNOWN');
    kit.refuseTx(owner.identity, 'name.update', owner.twin, body(99), 'NAME_GATEWAY_UNKNOWN');
  });
});
