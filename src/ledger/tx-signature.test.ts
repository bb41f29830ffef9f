import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toHex } from '../core/hex.ts';
import { verify } from '../core/signing.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import { assertTxSignature } from './tx-signature.ts';
import { newIdentity, TxKit } from './tx-test-kit.ts';

describe('assertTxSignature', () => {
  it('accepts exactly what core signing verifies under vdc/tx/v1', () => {
    const kit = new TxKit();
    const id = newIdentity();
    const { tx, sig } = kit.submission(id, 'farm.create', 1, { name: 'x' });
    assert.ok(verify(SIGNING_TAGS.tx, tx, Buffer.from(sig, 'hex'), id.signingPublicKey));
    assert.doesNotThrow(() => assertTxSignature(tx, sig));
  });

  it('names another tag, and refuses other keys and a signer that is no key', () => {
    const kit = new TxKit();
    const id = newIdentity();
    const tx = kit.tx(id, 'farm.create', 1, { name: 'x' });
    assert.throws(() => assertTxSignature(tx, toHex(id.sign(SIGNING_TAGS.relay, tx))), {
      code: 'TX_WRONG_TAG',
      message: /vdc\/relay\/v1/,
    });
    assert.throws(() => assertTxSignature(tx, toHex(newIdentity().sign(SIGNING_TAGS.tx, tx))), {
      code: 'TX_SIGNATURE_INVALID',
    });
    const noKey = { ...tx, signer: 'ff'.repeat(32) };
    assert.throws(() => assertTxSignature(noKey, toHex(id.sign(SIGNING_TAGS.tx, noKey))), {
      code: 'TX_SIGNATURE_INVALID',
    });
  });
});
