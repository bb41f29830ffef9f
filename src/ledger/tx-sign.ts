import { toHex } from '../core/hex.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import type { Identity } from '../identity/index.ts';
import type { EnrolGrant } from './rules/enrol-grant.ts';
import { twinKeyProofPayload } from './rules/twin.ts';
import type { Submission, Transaction, TxType } from './tx-format.ts';
import { parseSubmission } from './tx-parse.ts';

/*
 * The client side of transactions: build, sign and check before sending, so a malformed
 * transaction fails on the signer's machine with the same code the ledger would answer.
 */

export interface TxDraft {
  type: TxType;
  twin: number;
  nonce: number;
  ledger: string;
  body: object;
  time?: number;
}

/**
 * Signs a transaction with the identity's signing key (the twin's key or a delegated one).
 * @throws VdcError with the code the ledger would refuse the shape with (TX_*, a body code)
 */
export function signTransaction(identity: Identity, draft: TxDraft): Submission {
  const tx: Transaction = {
    type: draft.type,
    twin: draft.twin,
    signer: toHex(identity.signingPublicKey),
    nonce: draft.nonce,
    ledger: draft.ledger,
    body: draft.body as Record<string, unknown>,
  };
  if (draft.time !== undefined) tx.time = draft.time;
  const submission = { tx, sig: toHex(identity.sign(SIGNING_TAGS.tx, tx)) };
  parseSubmission(submission);
  return submission;
}

/** The farm owner's enrolment grant for one node key; what `vdc farm enrol` prints. */
export function signEnrolGrant(
  owner: Identity,
  grant: EnrolGrant,
): { grant: EnrolGrant; grantSignature: string } {
  return { grant, grantSignature: toHex(owner.sign(SIGNING_TAGS.enrol, grant)) };
}

/** The proof a new signing key gives for the twin.update (with `nonce`) that adopts it. */
export function signTwinKeyProof(
  newKey: Identity,
  ledger: string,
  twin: number,
  nonce: number,
): string {
  return toHex(newKey.sign(SIGNING_TAGS.tx, twinKeyProofPayload(ledger, twin, nonce)));
}
