import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { DAY, keyOf, newIdentity, TxKit } from '../../src/ledger/tx-test-kit.ts';

/*
 * P2 rests on the contract record: a node acts only on a deployment whose hash an active
 * contract of its owner holds. So only the owner (or its delegate) may create, change or
 * cancel a contract, a contract names an enrolled node, and a node joins an owner's network
 * only while it holds such a contract. Every refusal leaves the record as it was.
 */

function setup() {
  const kit = new TxKit();
  const grid = kit.grid();
  const owner = kit.twin();
  const mallory = kit.twin();
  const contract = kit.contract(owner, grid.node.node);
  return { kit, ...grid, owner, mallory, contract };
}

const terms = (kit: TxKit) => {
  const { node: _n, ...rest } = kit.contractBody(1);
  return rest;
};

describe('P2 contract authority', () => {
  it('refuses another twin changing or cancelling the contract', () => {
    const { kit, owner, mallory, contract, farmer, node } = setup();
    const hash = kit.projection.contract(contract)!.deploymentHash;
    kit.refuseTx(
      mallory.identity,
      'contract.update',
      mallory.twin,
      { contract, ...terms(kit) },
      'CONTRACT_NOT_OWNER',
    );
    kit.refuseTx(
      mallory.identity,
      'contract.update',
      owner.twin,
      { contract, ...terms(kit) },
      'TX_SIGNER_NOT_AUTHORISED',
    );
    kit.refuseTx(
      farmer.identity,
      'contract.cancel',
      farmer.twin,
      { contract, reason: 'heal' },
      'CONTRACT_NOT_OWNER',
    );
    kit.refuseTx(
      node.identity,
      'contract.cancel',
      node.twin,
      { contract, reason: 'user' },
      'CONTRACT_NOT_OWNER',
    );
    assert.equal(kit.projection.contract(contract)?.deploymentHash, hash);
    assert.ok(kit.projection.activeContract(contract, kit.now));
  });

  it("refuses a delegate of another twin, and the owner's delegate beyond its grant", () => {
    const { kit, owner, mallory, contract } = setup();
    const evilAgent = newIdentity();
    kit.submit(mallory.identity, 'delegate.grant', mallory.twin, {
      key: keyOf(evilAgent),
      types: ['contract.cancel'],
      expiresAt: kit.now + DAY,
    });
    kit.refuseTx(
      evilAgent,
      'contract.cancel',
      mallory.twin,
      { contract, reason: 'heal' },
      'CONTRACT_NOT_OWNER',
    );
    kit.refuseTx(
      evilAgent,
      'contract.cancel',
      owner.twin,
      { contract, reason: 'heal' },
      'TX_SIGNER_NOT_AUTHORISED',
    );
    const agent = newIdentity();
    kit.submit(owner.identity, 'delegate.grant', owner.twin, {
      key: keyOf(agent),
      types: ['contract.cancel'],
      expiresAt: kit.now + DAY,
    });
    kit.refuseTx(
      agent,
      'contract.update',
      owner.twin,
      { contract, ...terms(kit) },
      'DELEGATION_TYPE_NOT_GRANTED',
    );
    kit.submit(agent, 'contract.cancel', owner.twin, { contract, reason: 'heal' });
    assert.equal(kit.projection.contract(contract)?.cancelReason, 'heal');
  });

  it('refuses a contract naming a node that is not enrolled', () => {
    const { kit, owner } = setup();
    kit.refuseTx(
      owner.identity,
      'contract.create',
      owner.twin,
      kit.contractBody(1000),
      'CONTRACT_NODE_UNKNOWN',
    );
  });

  it('refuses a network member without an active contract of that owner for that network', () => {
    const { kit, owner, mallory, node } = setup();
    const member = (o: number, network = 'net1') => ({
      owner: o,
      network,
      node: node.node,
      publicKey: randomBytes(32).toString('base64'),
      endpoint: null,
    });
    kit.refuseTx(
      node.identity,
      'network.member',
      node.twin,
      member(mallory.twin),
      'NETWORK_NO_CONTRACT',
    );
    kit.refuseTx(
      node.identity,
      'network.member',
      node.twin,
      member(owner.twin, 'other'),
      'NETWORK_NO_CONTRACT',
    );
    // The owner cannot publish a key for the node: WireGuard keys come from the node.
    kit.refuseTx(
      owner.identity,
      'network.member',
      owner.twin,
      member(owner.twin),
      'NODE_NOT_SIGNER',
    );
    kit.submit(node.identity, 'network.member', node.twin, member(owner.twin));
    assert.equal(kit.projection.networkMembers(owner.twin, 'net1', kit.now).length, 1);
  });

  it("refuses taking or re-pointing another twin's name", () => {
    const { kit, owner, mallory, gateway, node } = setup();
    const name = { name: 'shop', gateway, mode: 'tls-passthrough', rules: {}, nodes: [node.node] };
    kit.submit(owner.identity, 'name.register', owner.twin, name);
    kit.refuseTx(mallory.identity, 'name.register', mallory.twin, name, 'NAME_TAKEN');
    kit.refuseTx(
      mallory.identity,
      'name.update',
      mallory.twin,
      { ...name, nodes: [] },
      'NAME_NOT_OWNER',
    );
    kit.refuseTx(
      mallory.identity,
      'name.release',
      mallory.twin,
      { name: 'shop' },
      'NAME_NOT_OWNER',
    );
    assert.equal(kit.projection.name('shop')?.twin, owner.twin);
  });
});
