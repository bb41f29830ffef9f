/**
 * Public surface of src/ledger: the verifying follower and client (what every other
 * program uses to learn state), transaction signing, proof verification, and the server
 * and audit entry points for `vdc ledger`.
 */

export { LedgerClient, type Receipt } from './ledger-client.ts';
export { type FollowerOptions, LedgerFollower } from './ledger-follower.ts';
export { ledgerId } from './ledger-id.ts';
export { loadOrCreateLedgerKey } from './ledger-key.ts';
export { pinLedgerKey } from './ledger-pin.ts';
export { type RunningLedger, startLedgerServer } from './ledger-server.ts';
export { LedgerService, replayStore } from './ledger-service.ts';
export { type AuditReport, auditLog } from './log-audit.ts';
export { type Leaf, leafBytes } from './log-leaf.ts';
export { verifyConsistency, verifyInclusion } from './merkle-verify.ts';
export { openStore } from './open-store.ts';
export { Projection } from './projection.ts';
export type { Contract, Gateway, LedgerNode, NameRecord, Twin } from './projection-state.ts';
export type { EnrolGrant } from './rules/enrol-grant.ts';
export { type SignedHead, verifyHead } from './signed-head.ts';
export { type Submission, type Transaction, TX_TYPES, type TxType } from './tx-format.ts';
export { signEnrolGrant, signTransaction } from './tx-sign.ts';
