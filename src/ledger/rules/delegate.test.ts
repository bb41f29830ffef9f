import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyOf, newIdentity, TxKit } from '../tx-test-kit.ts';

function setup() {
  const kit = new TxKit();
  const owner = kit.twin();
  const agent = newIdentity();
  return { kit, owner, agent, agentKey: keyOf(agent) };
}

describe('delegate.grant', () => {
  it('lets the delegate act for the twin within its types and counts it', () => {
    const { kit, owner, agent, agentKey } = setup();
    kit.submit(owner.identity, 'delegate.grant', owner.twin, {
      key: agentKey,
      types: ['farm.create'],
      counts: { 'farm.create': 2 },
      expiresAt: kit.now + 1000,
    });
    const applied = kit.submit(agent, 'farm.create', owner.twin, { name: 'by-agent' });
    assert.equal(kit.projection.farm(applied.created.farms!)?.owner, owner.twin);
    assert.deepEqual(kit.projection.delegation(agentKey)?.used, { 'farm.create': 1 });
    assert.equal(kit.projection.actorOf(agentKey, kit.now)?.twin.id, owner.twin);
  });

  it('refuses types a delegate may never hold: twin.update and delegate.*', () => {
    const { kit, owner, agentKey } = setup();
    for (const type of ['twin.update', 'delegate.grant', 'delegate.revoke'])
      kit.refuseTx(
        owner.identity,
        'delegate.grant',
        owner.twin,
        { key: agentKey, types: [type], expiresAt: kit.now + 1000 },
        'DELEGATION_FORBIDDEN_TYPE',
      );
    kit.refuseTx(
      owner.identity,
      'delegate.grant',
      owner.twin,
      { key: agentKey, types: ['node.report'], expiresAt: kit.now + 1000 },
      'TX_BODY_INVALID',
    );
  });

  it('refuses counts for types not granted, and an expiry in the past or too far', () => {
    const { kit, owner, agentKey } = setup();
    kit.refuseTx(
      owner.identity,
      'delegate.grant',
      owner.twin,
      {
        key: agentKey,
        types: ['farm.create'],
        counts: { 'name.register': 1 },
        expiresAt: kit.now + 1000,
      },
      'TX_BODY_INVALID',
    );
    kit.refuseTx(
      owner.identity,
      'delegate.grant',
      owner.twin,
      { key: agentKey, types: ['farm.create'], expiresAt: kit.now },
      'DELEGATION_EXPIRY_INVALID',
    );
    kit.refuseTx(
      owner.identity,
      'delegate.grant',
      owner.twin,
      { key: agentKey, types: ['farm.create'], expiresAt: kit.now + 10 * 366 * 86_400_000 },
      'DELEGATION_EXPIRY_INVALID',
    );
  });

  it("refuses a key that is another twin's key or delegate (keys unique)", () => {
    const { kit, owner, agentKey } = setup();
    const other = kit.twin();
    kit.refuseTx(
      owner.identity,
      'delegate.grant',
      owner.twin,
      { key: other.key, types: ['farm.create'], expiresAt: kit.now + 1000 },
      'DELEGATION_KEY_TAKEN',
    );
    kit.submit(other.identity, 'delegate.grant', other.twin, {
      key: agentKey,
      types: ['farm.create'],
      expiresAt: kit.now + 1000,
    });
    kit.refuseTx(
      owner.identity,
      'delegate.grant',
      owner.twin,
      { key: agentKey, types: ['farm.create'], expiresAt: kit.now + 1000 },
      'DELEGATION_KEY_TAKEN',
    );
  });

  it('replaces its own grant and resets the counts', () => {
    const { kit, owner, agent, agentKey } = setup();
    const grant = {
      key: agentKey,
      types: ['farm.create'],
      counts: { 'farm.create': 1 },
      expiresAt: kit.now + 1000,
    };
    kit.submit(owner.identity, 'delegate.grant', owner.twin, grant);
    kit.submit(agent, 'farm.create', owner.twin, { name: 'one' });
    kit.refuseTx(agent, 'farm.create', owner.twin, { name: 'two' }, 'DELEGATION_COUNT_EXHAUSTED');
    kit.submit(owner.identity, 'delegate.grant', owner.twin, grant);
    kit.submit(agent, 'farm.create', owner.twin, { name: 'two' });
  });

  it('needs the twin key: a delegate cannot grant', () => {
    const { kit, owner, agent, agentKey } = setup();
    kit.submit(owner.identity, 'delegate.grant', owner.twin, {
      key: agentKey,
      types: ['farm.create'],
      expiresAt: kit.now + 1000,
    });
    kit.refuseTx(
      agent,
      'delegate.grant',
      owner.twin,
      { key: keyOf(newIdentity()), types: ['farm.create'], expiresAt: kit.now + 1000 },
      'DELEGATION_FORBIDDEN_TYPE',
    );
  });
});

describe('delegate.revoke', () => {
  it('removes the delegation: the key no longer acts', () => {
    const { kit, owner, agent, agentKey } = setup();
    kit.submit(owner.identity, 'delegate.grant', owner.twin, {
      key: agentKey,
      types: ['farm.create'],
      expiresAt: kit.now + 1000,
    });
    kit.submit(owner.identity, 'delegate.revoke', owner.twin, { key: agentKey });
    assert.equal(kit.projection.delegation(agentKey), undefined);
    kit.refuseTx(agent, 'farm.create', owner.twin, { name: 'late' }, 'TX_SIGNER_NOT_AUTHORISED');
  });

  it("refuses revoking a delegation that is not the twin's", () => {
    const { kit, owner, agentKey } = setup();
    const other = kit.twin();
    kit.submit(other.identity, 'delegate.grant', other.twin, {
      key: agentKey,
      types: ['farm.create'],
      expiresAt: kit.now + 1000,
    });
    kit.refuseTx(
      owner.identity,
      'delegate.revoke',
      owner.twin,
      { key: agentKey },
      'DELEGATION_UNKNOWN',
    );
    kit.refuseTx(
      owner.identity,
      'delegate.revoke',
      owner.twin,
      { key: keyOf(newIdentity()) },
      'DELEGATION_UNKNOWN',
    );
  });
});
