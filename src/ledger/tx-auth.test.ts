import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_CLOCK_SKEW_MS } from './tx-format.ts';
import { DAY, keyOf, newIdentity, TxKit } from './tx-test-kit.ts';

describe('nonces per signing key', () => {
  it('strictly increase, with gaps allowed', () => {
    const kit = new TxKit();
    const a = kit.twin();
    kit.submit(a.identity, 'farm.create', a.twin, { name: 'x' }, { nonce: 10 });
    assert.equal(kit.projection.nonce(a.key), 10);
    assert.equal(kit.projection.nextNonce(a.key), 11);
    kit.refuseTx(a.identity, 'farm.create', a.twin, { name: 'x' }, 'TX_NONCE_REPLAYED', {
      nonce: 10,
    });
    kit.refuseTx(a.identity, 'farm.create', a.twin, { name: 'x' }, 'TX_NONCE_REPLAYED', {
      nonce: 9,
    });
    kit.submit(a.identity, 'farm.create', a.twin, { name: 'x' }, { nonce: 12 });
  });

  it('are kept per key: a delegate has its own sequence', () => {
    const kit = new TxKit();
    const a = kit.twin();
    const agent = newIdentity();
    kit.submit(
      a.identity,
      'delegate.grant',
      a.twin,
      { key: keyOf(agent), types: ['farm.create'], expiresAt: kit.now + DAY },
      { nonce: 50 },
    );
    kit.submit(agent, 'farm.create', a.twin, { name: 'x' }, { nonce: 1 });
    assert.equal(kit.projection.nonce(keyOf(agent)), 1);
    assert.equal(kit.projection.nonce(a.key), 50);
  });
});

describe('claimed time', () => {
  it('is accepted within the skew of acceptedAt, refused beyond it', () => {
    const kit = new TxKit();
    const a = kit.twin();
    kit.submit(
      a.identity,
      'farm.create',
      a.twin,
      { name: 'x' },
      { time: kit.now - MAX_CLOCK_SKEW_MS },
    );
    kit.submit(
      a.identity,
      'farm.create',
      a.twin,
      { name: 'x' },
      { time: kit.now + MAX_CLOCK_SKEW_MS },
    );
    kit.refuseTx(a.identity, 'farm.create', a.twin, { name: 'x' }, 'TX_TIME_SKEW', {
      time: kit.now - MAX_CLOCK_SKEW_MS - 1,
    });
    kit.refuseTx(a.identity, 'farm.create', a.twin, { name: 'x' }, 'TX_TIME_SKEW', {
      time: kit.now + MAX_CLOCK_SKEW_MS + 1,
    });
  });
});

describe('delegates', () => {
  it('are refused after expiry, outside their types, beyond their counts', () => {
    const kit = new TxKit();
    const a = kit.twin();
    const agent = newIdentity();
    kit.submit(a.identity, 'delegate.grant', a.twin, {
      key: keyOf(agent),
      types: ['farm.create', 'name.release'],
      counts: { 'farm.create': 1 },
      expiresAt: kit.now + DAY,
    });
    kit.submit(agent, 'farm.create', a.twin, { name: 'x' });
    kit.refuseTx(agent, 'farm.create', a.twin, { name: 'x' }, 'DELEGATION_COUNT_EXHAUSTED');
    kit.refuseTx(
      agent,
      'contract.cancel',
      a.twin,
      { contract: 1, reason: 'user' },
      'DELEGATION_TYPE_NOT_GRANTED',
    );
    kit.refuseTx(agent, 'twin.update', a.twin, { relays: [] }, 'DELEGATION_FORBIDDEN_TYPE');
    kit.advance(DAY);
    kit.refuseTx(agent, 'name.release', a.twin, { name: 'x' }, 'DELEGATION_EXPIRED');
  });

  it('act only for the twin that delegated them', () => {
    const kit = new TxKit();
    const a = kit.twin();
    const b = kit.twin();
    const agent = newIdentity();
    kit.submit(a.identity, 'delegate.grant', a.twin, {
      key: keyOf(agent),
      types: ['farm.create'],
      expiresAt: kit.now + DAY,
    });
    kit.refuseTx(agent, 'farm.create', b.twin, { name: 'x' }, 'TX_SIGNER_NOT_AUTHORISED');
  });
});
