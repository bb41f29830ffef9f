import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { DAY, TxKit } from '../tx-test-kit.ts';

function setup() {
  const kit = new TxKit();
  const grid = kit.grid();
  const owner = kit.twin();
  return { kit, ...grid, owner };
}

const wgKey = () => randomBytes(32).toString('base64');
const member = (owner: number, node: number, extra: Record<string, unknown> = {}) => ({
  owner,
  network: 'net1',
  node,
  publicKey: wgKey(),
  endpoint: '198.51.100.7:51820',
  ...extra,
});

describe('network.member', () => {
  it('is accepted while the node holds an active contract of the owner for that network', () => {
    const { kit, node, owner } = setup();
    const c = kit.contract(owner, node.node, { networks: ['net1'], expiresAt: kit.now + DAY });
    kit.submit(node.identity, 'network.member', node.twin, member(owner.twin, node.node));
    assert.equal(kit.projection.networkMembers(owner.twin, 'net1', kit.now).length, 1);
    // Counted only while the contract is active.
    assert.equal(kit.projection.networkMembers(owner.twin, 'net1', kit.now + DAY).length, 0);
    kit.submit(owner.identity, 'contract.cancel', owner.twin, { contract: c, reason: 'user' });
    assert.equal(kit.projection.networkMembers(owner.twin, 'net1', kit.now).length, 0);
    kit.refuseTx(
      node.identity,
      'network.member',
      node.twin,
      member(owner.twin, node.node),
      'NETWORK_NO_CONTRACT',
    );
  });

  it('replaces the key and endpoint of the same node; endpoint may be null', () => {
    const { kit, node, owner } = setup();
    kit.contract(owner, node.node);
    kit.submit(node.identity, 'network.member', node.twin, member(owner.twin, node.node));
    const m = member(owner.twin, node.node, { endpoint: null });
    kit.submit(node.identity, 'network.member', node.twin, m);
    assert.equal(kit.projection.member(owner.twin, 'net1', node.node)?.publicKey, m.publicKey);
    assert.equal(kit.projection.member(owner.twin, 'net1', node.node)?.endpoint, null);
  });

  it('refuses a network the contract does not list, another owner, an expired contract', () => {
    const { kit, node, owner } = setup();
    const other = kit.twin();
    kit.contract(owner, node.node, { networks: ['net1'], expiresAt: kit.now + DAY });
    kit.refuseTx(
      node.identity,
      'network.member',
      node.twin,
      member(owner.twin, node.node, { network: 'net2' }),
      'NETWORK_NO_CONTRACT',
    );
    kit.refuseTx(
      node.identity,
      'network.member',
      node.twin,
      member(other.twin, node.node),
      'NETWORK_NO_CONTRACT',
    );
    kit.refuseTx(
      node.identity,
      'network.member',
      node.twin,
      member(404, node.node),
      'NETWORK_OWNER_UNKNOWN',
    );
    kit.advance(DAY);
    kit.refuseTx(
      node.identity,
      'network.member',
      node.twin,
      member(owner.twin, node.node),
      'NETWORK_NO_CONTRACT',
    );
  });

  it('refuses a member published by anyone but the node', () => {
    const { kit, node, owner, farmer, farm } = setup();
    kit.contract(owner, node.node);
    kit.refuseTx(
      owner.identity,
      'network.member',
      owner.twin,
      member(owner.twin, node.node),
      'NODE_NOT_SIGNER',
    );
    const node2 = kit.node(farmer, farm);
    kit.refuseTx(
      node2.identity,
      'network.member',
      node2.twin,
      member(owner.twin, node.node),
      'NODE_NOT_SIGNER',
    );
    kit.refuseTx(
      owner.identity,
      'network.member',
      node.twin,
      member(owner.twin, node.node),
      'TX_SIGNER_NOT_AUTHORISED',
    );
  });

  it('refuses malformed keys and endpoints', () => {
    const { kit, node, owner } = setup();
    kit.contract(owner, node.node);
    for (const extra of [
      { publicKey: randomBytes(31).toString('base64') },
      { publicKey: 'ab'.repeat(32) },
      { endpoint: 'host' },
      { endpoint: '198.51.100.7:0' },
    ])
      kit.refuseTx(
        node.identity,
        'network.member',
        node.twin,
        member(owner.twin, node.node, extra),
        'TX_BODY_INVALID',
      );
  });
});
