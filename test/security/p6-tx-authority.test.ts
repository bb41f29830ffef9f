import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toHex } from '../../src/core/hex.ts';
import { SIGNING_TAGS } from '../../src/core/signing-tags.ts';
import { ledgerId } from '../../src/ledger/ledger-id.ts';
import { DAY, keyOf, newIdentity, TxKit } from '../../src/ledger/tx-test-kit.ts';

/*
 * P6: only the right key changes the record. A key that is not the owner's, a delegate
 * beyond its grant, a node without its farmer's grant and a report from anyone but the node
 * are refused with the code of the rule they break, and the projection does not change.
 */

const report = (node: number) => ({
  node,
  uptime: 1,
  capacity: { total: { cpu: 1, memory: 1, disk: 1 }, used: { cpu: 0, memory: 0, disk: 0 } },
  head: null,
});

describe('P6 signer authority', () => {
  it("refuses a key that is not the owner's", () => {
    const kit = new TxKit();
    const a = kit.twin();
    const mallory = kit.twin();
    const stranger = newIdentity();
    kit.refuseTx(
      mallory.identity,
      'farm.create',
      a.twin,
      { name: 'x' },
      'TX_SIGNER_NOT_AUTHORISED',
    );
    kit.refuseTx(stranger, 'farm.create', a.twin, { name: 'x' }, 'TX_SIGNER_NOT_AUTHORISED');
    kit.refuseTx(
      mallory.identity,
      'twin.update',
      a.twin,
      { relays: ['wss://evil.example/'] },
      'TX_SIGNER_NOT_AUTHORISED',
    );
    kit.refuseTx(
      mallory.identity,
      'delegate.grant',
      a.twin,
      { key: keyOf(stranger), types: ['farm.create'], expiresAt: kit.now + DAY },
      'TX_SIGNER_NOT_AUTHORISED',
    );
    assert.equal(kit.projection.farmsOf(a.twin).length, 0);
  });

  it('refuses a delegation that expired, does not cover the type, or is used up', () => {
    const kit = new TxKit();
    const a = kit.twin();
    const agent = newIdentity();
    kit.submit(a.identity, 'delegate.grant', a.twin, {
      key: keyOf(agent),
      types: ['farm.create', 'name.register'],
      counts: { 'farm.create': 2 },
      expiresAt: kit.now + DAY,
    });
    kit.refuseTx(
      agent,
      'contract.create',
      a.twin,
      kit.contractBody(1),
      'DELEGATION_TYPE_NOT_GRANTED',
    );
    kit.submit(agent, 'farm.create', a.twin, { name: 'one' });
    kit.submit(agent, 'farm.create', a.twin, { name: 'two' });
    kit.refuseTx(agent, 'farm.create', a.twin, { name: 'three' }, 'DELEGATION_COUNT_EXHAUSTED');
    kit.advance(DAY);
    kit.refuseTx(
      agent,
      'name.register',
      a.twin,
      { name: 'n', gateway: 1, mode: 'http', rules: {}, nodes: [] },
      'DELEGATION_EXPIRED',
    );
  });

  it('refuses a delegate issuing delegate.* or twin.update, and a grant naming them', () => {
    const kit = new TxKit();
    const a = kit.twin();
    const agent = newIdentity();
    kit.submit(a.identity, 'delegate.grant', a.twin, {
      key: keyOf(agent),
      types: ['farm.create'],
      expiresAt: kit.now + DAY,
    });
    const friend = keyOf(newIdentity());
    kit.refuseTx(
      agent,
      'delegate.grant',
      a.twin,
      { key: friend, types: ['farm.create'], expiresAt: kit.now + DAY },
      'DELEGATION_FORBIDDEN_TYPE',
    );
    kit.refuseTx(
      agent,
      'delegate.revoke',
      a.twin,
      { key: keyOf(agent) },
      'DELEGATION_FORBIDDEN_TYPE',
    );
    kit.refuseTx(
      agent,
      'twin.update',
      a.twin,
      { relays: ['wss://evil.example/'] },
      'DELEGATION_FORBIDDEN_TYPE',
    );
    kit.refuseTx(
      a.identity,
      'delegate.grant',
      a.twin,
      { key: friend, types: ['farm.create', 'delegate.grant'], expiresAt: kit.now + DAY },
      'DELEGATION_FORBIDDEN_TYPE',
    );
    assert.equal(kit.projection.delegation(friend), undefined);
  });
});

describe('P6 node enrolment and reports', () => {
  function farmSetup() {
    const kit = new TxKit();
    const farmer = kit.twin();
    const farm = kit.farm(farmer);
    const node = newIdentity();
    return { kit, farmer, farm, node, nodeKey: keyOf(node) };
  }

  it("refuses a node registering without the farmer's grant", () => {
    const { kit, farm, node } = farmSetup();
    const {
      grant: _g,
      grantSignature: _s,
      ...noGrant
    } = kit.nodeBody(node, farm, kit.enrolGrant(node, { farm, nodeKey: keyOf(node) }));
    kit.refuseTx(node, 'node.register', 0, noGrant, 'TX_BODY_INVALID');
    // Self-signed grant: the node is not the farm's owner.
    kit.refuseTx(
      node,
      'node.register',
      0,
      kit.nodeBody(node, farm, kit.enrolGrant(node, { farm, nodeKey: keyOf(node) })),
      'ENROL_GRANT_INVALID',
    );
    assert.equal(kit.projection.nodesOfFarm(farm).length, 0);
  });

  it('refuses a grant for another farm, another ledger, another node, or expired', () => {
    const { kit, farmer, farm, node, nodeKey } = farmSetup();
    const mallory = kit.twin();
    const evilFarm = kit.farm(mallory);
    // Mallory's own grant for her farm cannot enrol into the farmer's farm.
    kit.refuseTx(
      node,
      'node.register',
      0,
      kit.nodeBody(node, farm, kit.enrolGrant(mallory.identity, { farm: evilFarm, nodeKey })),
      'ENROL_GRANT_WRONG_FARM',
    );
    // Nor can she relabel it: the farmer did not sign that.
    kit.refuseTx(
      node,
      'node.register',
      0,
      kit.nodeBody(node, farm, kit.enrolGrant(mallory.identity, { farm, nodeKey })),
      'ENROL_GRANT_INVALID',
    );
    const elsewhere = ledgerId(newIdentity().signingPublicKey);
    kit.refuseTx(
      node,
      'node.register',
      0,
      kit.nodeBody(
        node,
        farm,
        kit.enrolGrant(farmer.identity, { farm, nodeKey, ledger: elsewhere }),
      ),
      'ENROL_GRANT_WRONG_LEDGER',
    );
    const forOther = kit.enrolGrant(farmer.identity, { farm, nodeKey: keyOf(newIdentity()) });
    kit.refuseTx(
      node,
      'node.register',
      0,
      kit.nodeBody(node, farm, forOther),
      'ENROL_GRANT_WRONG_NODE',
    );
    const old = kit.enrolGrant(farmer.identity, { farm, nodeKey, expires: kit.now });
    kit.refuseTx(node, 'node.register', 0, kit.nodeBody(node, farm, old), 'ENROL_GRANT_EXPIRED');
    const { grant } = kit.enrolGrant(farmer.identity, { farm, nodeKey });
    const wrongTag = { grant, grantSignature: toHex(farmer.identity.sign(SIGNING_TAGS.tx, grant)) };
    kit.refuseTx(
      node,
      'node.register',
      0,
      kit.nodeBody(node, farm, wrongTag),
      'ENROL_GRANT_INVALID',
    );
    assert.equal(kit.projection.nodesOfFarm(farm).length, 0);
  });

  it('refuses a report signed by anyone but the node', () => {
    const { kit, farmer, farm } = farmSetup();
    const n = kit.node(farmer, farm);
    const other = kit.node(farmer, farm);
    const agent = newIdentity();
    kit.submit(n.identity, 'delegate.grant', n.twin, {
      key: keyOf(agent),
      types: ['farm.create'],
      expiresAt: kit.now + DAY,
    });
    kit.refuseTx(farmer.identity, 'node.report', farmer.twin, report(n.node), 'NODE_NOT_SIGNER');
    kit.refuseTx(
      farmer.identity,
      'node.report',
      n.twin,
      report(n.node),
      'TX_SIGNER_NOT_AUTHORISED',
    );
    kit.refuseTx(other.identity, 'node.report', other.twin, report(n.node), 'NODE_NOT_SIGNER');
    kit.refuseTx(agent, 'node.report', n.twin, report(n.node), 'DELEGATION_FORBIDDEN_TYPE');
    assert.equal(kit.projection.node(n.node)?.report, null);
  });
});
