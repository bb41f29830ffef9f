import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toHex } from '../../core/hex.ts';
import { SIGNING_TAGS } from '../../core/signing-tags.ts';
import { keyOf, newIdentity, TxKit } from '../tx-test-kit.ts';
import { twinKeyProofPayload } from './twin.ts';

describe('twin.create', () => {
  it('registers the signer as a twin with sequential ids', () => {
    const kit = new TxKit();
    const a = kit.twin(['wss://relay.example.org/']);
    const b = kit.twin();
    assert.equal(a.twin, 1);
    assert.equal(b.twin, 2);
    const twin = kit.projection.twin(1)!;
    assert.equal(twin.signingKey, a.key);
    assert.deepEqual(twin.relays, ['wss://relay.example.org/']);
    assert.equal(kit.projection.twinByKey(b.key)?.id, 2);
  });

  it('refuses a key that is already a twin key (twin keys unique)', () => {
    const kit = new TxKit();
    const a = kit.twin();
    kit.refuseTx(
      a.identity,
      'twin.create',
      0,
      { encryptionKey: toHex(a.identity.encryptionPublicKey), relays: [] },
      'TWIN_KEY_TAKEN',
    );
  });

  it('refuses a key that is already delegated', () => {
    const kit = new TxKit();
    const a = kit.twin();
    const d = newIdentity();
    kit.submit(a.identity, 'delegate.grant', a.twin, {
      key: keyOf(d),
      types: ['farm.create'],
      expiresAt: kit.now + 1000,
    });
    kit.refuseTx(
      d,
      'twin.create',
      0,
      { encryptionKey: toHex(d.encryptionPublicKey), relays: [] },
      'TWIN_KEY_TAKEN',
    );
  });

  it('refuses a relay that is not a ws(s) URL, and a twin field other than 0', () => {
    const kit = new TxKit();
    const id = newIdentity();
    const enc = toHex(id.encryptionPublicKey);
    kit.refuseTx(
      id,
      'twin.create',
      0,
      { encryptionKey: enc, relays: ['http://x/'] },
      'TX_BODY_INVALID',
    );
    kit.refuseTx(id, 'twin.create', 3, { encryptionKey: enc, relays: [] }, 'TX_MALFORMED');
  });
});

describe('twin.update', () => {
  it('changes relays and encryption key', () => {
    const kit = new TxKit();
    const a = kit.twin();
    const enc = toHex(newIdentity().encryptionPublicKey);
    kit.advance(10);
    kit.submit(a.identity, 'twin.update', a.twin, {
      relays: ['ws://127.0.0.1:9/'],
      encryptionKey: enc,
    });
    const twin = kit.projection.twin(a.twin)!;
    assert.deepEqual(twin.relays, ['ws://127.0.0.1:9/']);
    assert.equal(twin.encryptionKey, enc);
    assert.equal(twin.updatedAt, kit.now);
  });

  it('rotates the signing key with a proof by the new key; the old key no longer acts', () => {
    const kit = new TxKit();
    const a = kit.twin();
    const fresh = newIdentity();
    const tx = kit.tx(a.identity, 'twin.update', a.twin, {});
    tx.body = {
      signingKey: keyOf(fresh),
      keyProof: toHex(
        fresh.sign(SIGNING_TAGS.tx, twinKeyProofPayload(kit.ledger, a.twin, tx.nonce)),
      ),
    };
    kit.projection.apply(kit.leaf(kit.sign(a.identity, tx)));
    assert.equal(kit.projection.twin(a.twin)!.signingKey, keyOf(fresh));
    assert.equal(kit.projection.twinByKey(a.key), undefined);
    kit.refuseTx(a.identity, 'twin.update', a.twin, { relays: [] }, 'TX_SIGNER_NOT_AUTHORISED');
    kit.submit(fresh, 'twin.update', a.twin, { relays: [] });
  });

  it('refuses a rotation without a valid proof, or to a key already taken', () => {
    const kit = new TxKit();
    const a = kit.twin();
    const b = kit.twin();
    const fresh = newIdentity();
    const tx = kit.tx(a.identity, 'twin.update', a.twin, {});
    // Proof bound to another nonce: it does not serve for this transaction.
    tx.body = {
      signingKey: keyOf(fresh),
      keyProof: toHex(
        fresh.sign(SIGNING_TAGS.tx, twinKeyProofPayload(kit.ledger, a.twin, tx.nonce + 1)),
      ),
    };
    kit.refuse(kit.sign(a.identity, tx), 'TWIN_KEY_PROOF_INVALID');
    const tx2 = kit.tx(a.identity, 'twin.update', a.twin, {});
    tx2.body = {
      signingKey: b.key,
      keyProof: toHex(
        b.identity.sign(SIGNING_TAGS.tx, twinKeyProofPayload(kit.ledger, a.twin, tx2.nonce)),
      ),
    };
    kit.refuse(kit.sign(a.identity, tx2), 'TWIN_KEY_TAKEN');
  });

  it('refuses an update that changes nothing, or a key without its proof', () => {
    const kit = new TxKit();
    const a = kit.twin();
    kit.refuseTx(a.identity, 'twin.update', a.twin, {}, 'TX_BODY_INVALID');
    kit.refuseTx(
      a.identity,
      'twin.update',
      a.twin,
      { signingKey: keyOf(newIdentity()) },
      'TX_BODY_INVALID',
    );
  });

  it('refuses an update signed by another twin (only the twin key)', () => {
    const kit = new TxKit();
    const a = kit.twin();
    const b = kit.twin();
    kit.refuseTx(b.identity, 'twin.update', a.twin, { relays: [] }, 'TX_SIGNER_NOT_AUTHORISED');
    kit.refuseTx(b.identity, 'twin.update', 99, { relays: [] }, 'TX_TWIN_UNKNOWN');
  });
});
