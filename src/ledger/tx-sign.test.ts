import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toHex } from '../core/hex.ts';
import { ledgerId } from './ledger-id.ts';
import { signEnrolGrant, signTransaction, signTwinKeyProof } from './tx-sign.ts';
import { DAY, keyOf, newIdentity, TxKit } from './tx-test-kit.ts';

describe('signTransaction', () => {
  it('makes submissions the projection accepts', () => {
    const kit = new TxKit();
    const id = newIdentity();
    const sub = signTransaction(id, {
      type: 'twin.create',
      twin: 0,
      nonce: 1,
      ledger: kit.ledger,
      body: { encryptionKey: toHex(id.encryptionPublicKey), relays: [] },
      time: kit.now,
    });
    assert.equal(kit.projection.apply(kit.leaf(sub)).created.twins, 1);
  });

  it('refuses locally what the ledger would refuse', () => {
    const id = newIdentity();
    assert.throws(
      () =>
        signTransaction(id, {
          type: 'farm.create',
          twin: 1,
          nonce: 1,
          ledger: 'ab'.repeat(32),
          body: { name: '' },
        }),
      { code: 'TX_BODY_INVALID' },
    );
  });
});

describe('signEnrolGrant and signTwinKeyProof', () => {
  it('produce what node.register and twin.update check', () => {
    const kit = new TxKit();
    const farmer = kit.twin();
    const farm = kit.farm(farmer);
    const node = newIdentity();
    const signed = signEnrolGrant(farmer.identity, {
      ledger: kit.ledger,
      farm,
      nodeKey: keyOf(node),
      expires: kit.now + DAY,
    });
    kit.submit(node, 'node.register', 0, kit.nodeBody(node, farm, signed));
    const fresh = newIdentity();
    const nonce = kit.projection.nextNonce(farmer.key);
    kit.submit(
      farmer.identity,
      'twin.update',
      farmer.twin,
      {
        signingKey: keyOf(fresh),
        keyProof: signTwinKeyProof(fresh, kit.ledger, farmer.twin, nonce),
      },
      { nonce },
    );
    assert.equal(kit.projection.twin(farmer.twin)?.signingKey, keyOf(fresh));
    assert.equal(ledgerId(kit.ledgerIdentity.signingPublicKey), kit.ledger);
  });
});
