import { contractCancel, contractCreate, contractUpdate } from './rules/contract.ts';
import { delegateGrant, delegateRevoke } from './rules/delegate.ts';
import { farmCreate } from './rules/farm.ts';
import { gatewayRegister, gatewayUpdate } from './rules/gateway.ts';
import { nameRegister, nameRelease, nameUpdate } from './rules/name.ts';
import { networkMember } from './rules/network.ts';
import { nodeRegister, nodeReport } from './rules/node.ts';
import type { TxSpec } from './rules/rule.ts';
import { twinCreate, twinUpdate } from './rules/twin.ts';
import type { TxType } from './tx-format.ts';

/** Every transaction type with who may sign it, its body parser and its rule. */
export const TX_SPECS: Readonly<Record<TxType, TxSpec<unknown>>> = {
  'twin.create': twinCreate,
  'twin.update': twinUpdate,
  'delegate.grant': delegateGrant,
  'delegate.revoke': delegateRevoke,
  'farm.create': farmCreate,
  'node.register': nodeRegister,
  'node.report': nodeReport,
  'gateway.register': gatewayRegister,
  'gateway.update': gatewayUpdate,
  'contract.create': contractCreate,
  'contract.update': contractUpdate,
  'contract.cancel': contractCancel,
  'name.register': nameRegister,
  'name.update': nameUpdate,
  'name.release': nameRelease,
  'network.member': networkMember,
};
