import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DAY, keyOf, newIdentity, TxKit } from '../tx-test-kit.ts';

function setup() {
  const kit = new TxKit();
  const grid = kit.grid();
  const owner = kit.twin();
  return { kit, ...grid, owner };
}

const terms = (kit: TxKit, extra: Record<string, unknown> = {}) => {
  const { node: _node, ...rest } = kit.contractBody(1, extra);
  return rest;
};

describe('contract.create', () => {
  it('binds a deployment hash to an enrolled node until expiresAt', () => {
    const { kit, node, owner } = setup();
    const id = kit.contract(owner, node.node);
    const c = kit.projection.contract(id)!;
    assert.equal(c.twin, owner.twin);
    assert.equal(c.node, node.node);
    assert.equal(kit.projection.activeContractsOfNode(node.node, kit.now).length, 1);
    assert.equal(
      kit.projection.activeContractsOfNode(node.node, c.expiresAt).length,
      0,
      'inactive from expiresAt',
    );
    assert.deepEqual(
      kit.projection.contractsOfTwin(owner.twin).map((x) => x.id),
      [id],
    );
  });

  it('refuses a node that is not enrolled', () => {
    const { kit, owner } = setup();
    kit.refuseTx(
      owner.identity,
      'contract.create',
      owner.twin,
      kit.contractBody(99),
      'CONTRACT_NODE_UNKNOWN',
    );
  });

  it('refuses an expiry in the past or beyond the longest term', () => {
    const { kit, node, owner } = setup();
    kit.refuseTx(
      owner.identity,
      'contract.create',
      owner.twin,
      kit.contractBody(node.node, { expiresAt: kit.now }),
      'CONTRACT_EXPIRY_INVALID',
    );
    kit.refuseTx(
      owner.identity,
      'contract.create',
      owner.twin,
      kit.contractBody(node.node, { expiresAt: kit.now + 2000 * DAY }),
      'CONTRACT_EXPIRY_INVALID',
    );
  });

  it('refuses a deployment blob that is not canonical base64 or is too large', () => {
    const { kit, node, owner } = setup();
    for (const deployment of ['not base64!', 'QQ=', 'QR==', 'A'.repeat(43_696)])
      kit.refuseTx(
        owner.identity,
        'contract.create',
        owner.twin,
        kit.contractBody(node.node, { deployment }),
        'TX_BODY_INVALID',
      );
    kit.refuseTx(
      owner.identity,
      'contract.create',
      owner.twin,
      kit.contractBody(node.node, { networks: ['Net'] }),
      'TX_BODY_INVALID',
    );
    kit.refuseTx(
      owner.identity,
      'contract.create',
      owner.twin,
      kit.contractBody(node.node, { networks: ['a', 'a'] }),
      'TX_BODY_INVALID',
    );
  });
});

describe('contract.update', () => {
  it('replaces the terms and counts the version', () => {
    const { kit, node, owner } = setup();
    const id = kit.contract(owner, node.node);
    kit.advance(1000);
    const t = terms(kit, { networks: [] });
    kit.submit(owner.identity, 'contract.update', owner.twin, { contract: id, ...t });
    const c = kit.projection.contract(id)!;
    assert.equal(c.deploymentHash, t.deploymentHash);
    assert.equal(c.version, 1);
    assert.equal(c.updatedAt, kit.now);
    assert.deepEqual(c.networks, []);
  });

  it("refuses another twin's contract, an unknown one, a cancelled or expired one", () => {
    const { kit, node, owner } = setup();
    const other = kit.twin();
    const id = kit.contract(owner, node.node, { expiresAt: kit.now + DAY });
    kit.refuseTx(
      other.identity,
      'contract.update',
      other.twin,
      { contract: id, ...terms(kit) },
      'CONTRACT_NOT_OWNER',
    );
    kit.refuseTx(
      owner.identity,
      'contract.update',
      owner.twin,
      { contract: 77, ...terms(kit) },
      'CONTRACT_UNKNOWN',
    );
    kit.advance(DAY);
    kit.refuseTx(
      owner.identity,
      'contract.update',
      owner.twin,
      { contract: id, ...terms(kit) },
      'CONTRACT_NOT_ACTIVE',
    );
  });

  it('accepts a delegate granted the type, refuses one that is not', () => {
    const { kit, node, owner } = setup();
    const id = kit.contract(owner, node.node);
    const agent = newIdentity();
    kit.submit(owner.identity, 'delegate.grant', owner.twin, {
      key: keyOf(agent),
      types: ['contract.update'],
      expiresAt: kit.now + DAY,
    });
    kit.submit(agent, 'contract.update', owner.twin, { contract: id, ...terms(kit) });
    kit.refuseTx(
      agent,
      'contract.cancel',
      owner.twin,
      { contract: id, reason: 'heal' },
      'DELEGATION_TYPE_NOT_GRANTED',
    );
  });
});

describe('contract.cancel', () => {
  it('cancels with a reason; the contract is no longer active', () => {
    const { kit, node, owner } = setup();
    const id = kit.contract(owner, node.node);
    kit.submit(owner.identity, 'contract.cancel', owner.twin, { contract: id, reason: 'heal' });
    const c = kit.projection.contract(id)!;
    assert.equal(c.cancelReason, 'heal');
    assert.equal(c.cancelledAt, kit.now);
    assert.equal(kit.projection.activeContract(id, kit.now), undefined);
  });

  it('refuses a second cancel, a foreign contract, and an unknown reason', () => {
    const { kit, node, owner, farmer } = setup();
    const id = kit.contract(owner, node.node);
    kit.refuseTx(
      farmer.identity,
      'contract.cancel',
      farmer.twin,
      { contract: id, reason: 'heal' },
      'CONTRACT_NOT_OWNER',
    );
    kit.refuseTx(
      node.identity,
      'contract.cancel',
      node.twin,
      { contract: id, reason: 'user' },
      'CONTRACT_NOT_OWNER',
    );
    kit.refuseTx(
      owner.identity,
      'contract.cancel',
      owner.twin,
      { contract: id, reason: 'farmer' },
      'TX_BODY_INVALID',
    );
    kit.submit(owner.identity, 'contract.cancel', owner.twin, { contract: id, reason: 'user' });
    kit.refuseTx(
      owner.identity,
      'contract.cancel',
      owner.twin,
      { contract: id, reason: 'user' },
      'CONTRACT_NOT_ACTIVE',
    );
  });

  it('may cancel an expired contract, recording why it ended', () => {
    const { kit, node, owner } = setup();
    const id = kit.contract(owner, node.node, { expiresAt: kit.now + 10 });
    kit.advance(20);
    kit.submit(owner.identity, 'contract.cancel', owner.twin, { contract: id, reason: 'user' });
    assert.equal(kit.projection.contract(id)?.cancelReason, 'user');
  });
});
