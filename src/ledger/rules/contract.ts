import type { Contract, ProjectionReader } from '../projection-state.ts';
import { isContractActive } from '../projection-state.ts';
import {
  readBase64,
  readEnum,
  readHex,
  readList,
  readString,
  readTime,
  readUint,
} from '../tx-fields.ts';
import { MAX_ID, MAX_TERM_MS } from '../tx-format.ts';
import { bodyObject, defineTx, effect, refuse } from './rule.ts';

/*
 * A contract binds a deployment to one node until `expiresAt`: the node acts on a
 * deployment only if its salted canonical hash equals `deploymentHash` of an active contract
 * for it (P2). `deployment` is the deployment encrypted to its owner, opaque and bounded,
 * so the owner can restore from the ledger alone (P7). `networks` names the owner's
 * networks the contract's workloads join; a node may publish a network.member only for
 * those. Only the owner (or a delegate granted the type) changes or cancels a contract;
 * cancel records why: `user`, or `heal` when the owner's agent moves the workloads away.
 */

/** Raw bytes of the encrypted deployment. */
export const MAX_DEPLOYMENT_BYTES = 32_768;
export const MAX_CONTRACT_NETWORKS = 8;
export const NETWORK_NAME = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

export interface ContractTerms {
  deploymentHash: string;
  deployment: string;
  expiresAt: number;
  networks: string[];
}

export interface ContractCreateBody extends ContractTerms {
  node: number;
}

export interface ContractUpdateBody extends ContractTerms {
  contract: number;
}

export interface ContractCancelBody {
  contract: number;
  reason: 'user' | 'heal';
}

export function readNetworkName(value: unknown, label: string): string {
  return readString(value, label, { min: 1, max: 32, pattern: NETWORK_NAME }, 'TX_BODY_INVALID');
}

function readTerms(b: Record<string, unknown>): ContractTerms {
  return {
    deploymentHash: readHex(b['deploymentHash'], 'body.deploymentHash', 32, 'TX_BODY_INVALID'),
    deployment: readBase64(
      b['deployment'],
      'body.deployment',
      MAX_DEPLOYMENT_BYTES,
      'TX_BODY_INVALID',
    ),
    expiresAt: readTime(b['expiresAt'], 'body.expiresAt', 'TX_BODY_INVALID'),
    networks: readList(
      b['networks'],
      'body.networks',
      MAX_CONTRACT_NETWORKS,
      'TX_BODY_INVALID',
      readNetworkName,
      {
        unique: true,
      },
    ),
  };
}

const TERMS = ['deploymentHash', 'deployment', 'expiresAt', 'networks'];

function checkExpiry(expiresAt: number, acceptedAt: number): void {
  if (expiresAt <= acceptedAt || expiresAt > acceptedAt + MAX_TERM_MS)
    refuse(
      'CONTRACT_EXPIRY_INVALID',
      `'body.expiresAt' must be after the contract is accepted (${acceptedAt}) and within ${MAX_TERM_MS} ms of it, got ${expiresAt}`,
    );
}

/** The contract, if it exists and belongs to `twin`; refuses otherwise. */
function ownContract(state: ProjectionReader, id: number, twin: number): Contract {
  const contract = state.contract(id);
  if (!contract) refuse('CONTRACT_UNKNOWN', `contract ${id} does not exist`);
  if (contract.twin !== twin)
    refuse(
      'CONTRACT_NOT_OWNER',
      `only the owner or its delegate changes or cancels a contract: contract ${id} belongs to twin ${contract.twin}, not twin ${twin}`,
    );
  return contract;
}

export const contractCreate = defineTx<ContractCreateBody>({
  auth: 'owner-or-delegate',
  parseBody(value) {
    const b = bodyObject(value, ['node', ...TERMS]);
    return {
      node: readUint(b['node'], 'body.node', MAX_ID, 'TX_BODY_INVALID', 1),
      ...readTerms(b),
    };
  },
  rule(state, { tx, acceptedAt }) {
    const { node, ...terms } = tx.body;
    if (!state.node(node))
      refuse(
        'CONTRACT_NODE_UNKNOWN',
        `a contract names an enrolled node: node ${node} is not registered on this ledger`,
      );
    checkExpiry(terms.expiresAt, acceptedAt);
    const id = state.nextId('contracts');
    const contract: Contract = {
      id,
      twin: tx.twin,
      node,
      ...terms,
      createdAt: acceptedAt,
      updatedAt: acceptedAt,
      version: 0,
      cancelledAt: null,
      cancelReason: null,
    };
    return effect([{ table: 'contracts', key: id, value: contract }], { contracts: id });
  },
});

export const contractUpdate = defineTx<ContractUpdateBody>({
  auth: 'owner-or-delegate',
  parseBody(value) {
    const b = bodyObject(value, ['contract', ...TERMS]);
    return {
      contract: readUint(b['contract'], 'body.contract', MAX_ID, 'TX_BODY_INVALID', 1),
      ...readTerms(b),
    };
  },
  rule(state, { tx, acceptedAt }) {
    const { contract: id, ...terms } = tx.body;
    const contract = ownContract(state, id, tx.twin);
    if (!isContractActive(contract, acceptedAt))
      refuse(
        'CONTRACT_NOT_ACTIVE',
        `contract ${id} is ${contract.cancelledAt === null ? 'expired' : 'cancelled'}: create a new contract instead`,
      );
    checkExpiry(terms.expiresAt, acceptedAt);
    const next: Contract = {
      ...contract,
      ...terms,
      updatedAt: acceptedAt,
      version: contract.version + 1,
    };
    return effect([{ table: 'contracts', key: id, value: next }]);
  },
});

export const contractCancel = defineTx<ContractCancelBody>({
  auth: 'owner-or-delegate',
  parseBody(value) {
    const b = bodyObject(value, ['contract', 'reason']);
    return {
      contract: readUint(b['contract'], 'body.contract', MAX_ID, 'TX_BODY_INVALID', 1),
      reason: readEnum(b['reason'], 'body.reason', ['user', 'heal'] as const, 'TX_BODY_INVALID'),
    };
  },
  rule(state, { tx, acceptedAt }) {
    const contract = ownContract(state, tx.body.contract, tx.twin);
    // An expired contract may still be cancelled (it records why it ended); a cancelled one may not.
    if (contract.cancelledAt !== null)
      refuse(
        'CONTRACT_NOT_ACTIVE',
        `contract ${contract.id} was already cancelled at ${contract.cancelledAt}`,
      );
    const next: Contract = {
      ...contract,
      cancelledAt: acceptedAt,
      cancelReason: tx.body.reason,
      updatedAt: acceptedAt,
    };
    return effect([{ table: 'contracts', key: contract.id, value: next }]);
  },
});
