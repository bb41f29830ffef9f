import { verify } from '../../core/signing.ts';
import { SIGNING_TAGS } from '../../core/signing-tags.ts';
import type { Twin } from '../projection-state.ts';
import { readHex, readList, readWsUrl } from '../tx-fields.ts';
import { bodyObject, defineTx, effect, keyHolder, refuse } from './rule.ts';

/*
 * twin.create registers the signer's key as a new twin; twin.update changes its encryption
 * key, relays or signing key. Changing the signing key needs a proof by the new key
 * (`keyProof`), so nobody can claim a key they do not hold and lock its owner out of it.
 */

export const MAX_RELAYS = 4;

export interface TwinCreateBody {
  encryptionKey: string;
  relays: string[];
}

export interface TwinUpdateBody {
  encryptionKey?: string;
  relays?: string[];
  signingKey?: string;
  /** Signature by `signingKey` under vdc/tx/v1 over twinKeyProofPayload(...). */
  keyProof?: string;
}

export function readRelays(value: unknown, label: string): string[] {
  return readList(
    value,
    label,
    MAX_RELAYS,
    'TX_BODY_INVALID',
    (v, l) => readWsUrl(v, l, 'TX_BODY_INVALID'),
    {
      unique: true,
    },
  );
}

export function readEncryptionKey(value: unknown, label: string): string {
  return readHex(value, label, 32, 'TX_BODY_INVALID');
}

/**
 * What a new signing key signs to prove it is held by the twin taking it. It names the
 * ledger, the twin and the nonce of the twin.update carrying it, so a proof serves once;
 * it has no `type` field, so it can never be read as a transaction, nor a transaction as it.
 */
export function twinKeyProofPayload(ledger: string, twin: number, nonce: number) {
  return { proof: 'twin.update', ledger, twin, nonce };
}

export const twinCreate = defineTx<TwinCreateBody>({
  auth: 'self',
  parseBody(value) {
    const b = bodyObject(value, ['encryptionKey', 'relays']);
    return {
      encryptionKey: readEncryptionKey(b['encryptionKey'], 'body.encryptionKey'),
      relays: readRelays(b['relays'], 'body.relays'),
    };
  },
  rule(state, { tx, acceptedAt }) {
    const holder = keyHolder(state, tx.signer);
    if (holder)
      refuse(
        'TWIN_KEY_TAKEN',
        `twin keys are unique: key ${tx.signer} is already ${holder}; create the twin with a key of its own`,
      );
    const id = state.nextId('twins');
    const twin: Twin = {
      id,
      signingKey: tx.signer,
      encryptionKey: tx.body.encryptionKey,
      relays: tx.body.relays,
      createdAt: acceptedAt,
      updatedAt: acceptedAt,
    };
    return effect([{ table: 'twins', key: id, value: twin }], { twins: id });
  },
});

export const twinUpdate = defineTx<TwinUpdateBody>({
  auth: 'owner',
  parseBody(value) {
    const b = bodyObject(value, [], ['encryptionKey', 'relays', 'signingKey', 'keyProof']);
    const out: TwinUpdateBody = {};
    if (b['encryptionKey'] !== undefined)
      out.encryptionKey = readEncryptionKey(b['encryptionKey'], 'body.encryptionKey');
    if (b['relays'] !== undefined) out.relays = readRelays(b['relays'], 'body.relays');
    if (b['signingKey'] !== undefined || b['keyProof'] !== undefined) {
      out.signingKey = readHex(b['signingKey'], 'body.signingKey', 32, 'TX_BODY_INVALID');
      out.keyProof = readHex(b['keyProof'], 'body.keyProof', 64, 'TX_BODY_INVALID');
    }
    if (Object.keys(out).length === 0)
      refuse(
        'TX_BODY_INVALID',
        `'body' of twin.update changes nothing: give encryptionKey, relays or signingKey with keyProof`,
      );
    return out;
  },
  rule(state, { tx, acceptedAt }) {
    const twin = state.twin(tx.twin)!;
    const next: Twin = { ...twin, updatedAt: acceptedAt };
    if (tx.body.encryptionKey !== undefined) next.encryptionKey = tx.body.encryptionKey;
    if (tx.body.relays !== undefined) next.relays = tx.body.relays;
    const { signingKey, keyProof } = tx.body;
    if (signingKey !== undefined && keyProof !== undefined && signingKey !== twin.signingKey) {
      const holder = keyHolder(state, signingKey);
      if (holder)
        refuse(
          'TWIN_KEY_TAKEN',
          `twin keys are unique: key ${signingKey} is already ${holder}; rotate to a fresh key`,
        );
      const payload = twinKeyProofPayload(state.ledger, tx.twin, tx.nonce);
      let ok = false;
      try {
        ok = verify(
          SIGNING_TAGS.tx,
          payload,
          Buffer.from(keyProof, 'hex'),
          Buffer.from(signingKey, 'hex'),
        );
      } catch {
        // A key that is not a valid Ed25519 point cannot have signed: same verdict as a bad proof.
        ok = false;
      }
      if (!ok)
        refuse(
          'TWIN_KEY_PROOF_INVALID',
          `'body.keyProof' is not a signature by the new signing key over {proof: 'twin.update', ledger, twin: ${tx.twin}, nonce: ${tx.nonce}}: sign it with the new key`,
        );
      next.signingKey = signingKey;
    }
    return effect([{ table: 'twins', key: twin.id, value: next }]);
  },
});
