import { isContractActive, memberKey, type NetworkMember } from '../projection-state.ts';
import { readBase64, readHostPort, readUint } from '../tx-fields.ts';
import { MAX_ID } from '../tx-format.ts';
import { readNetworkName } from './contract.ts';
import { bodyObject, defineTx, effect, refuse } from './rule.ts';

/*
 * network.member publishes a node's WireGuard public key and endpoint for one network of one
 * owner. A network is named by its owner twin and a name; a contract joins its node to the
 * networks it lists in `networks`. The node signs (WireGuard keys are made on the node and
 * never leave it), and the member is accepted only while that node holds an active
 * contract of the owner listing the network. Members are not removed: a member counts only
 * while such a contract is active (Projection.networkMembers), and a later network.member
 * for the same node replaces the key and endpoint.
 */

export interface NetworkMemberBody {
  owner: number;
  network: string;
  node: number;
  /** WireGuard public key: 32 bytes in base64, as `wg pubkey` prints it. */
  publicKey: string;
  /** host:port where peers reach the node, or null for a node that only dials out. */
  endpoint: string | null;
}

export const networkMember = defineTx<NetworkMemberBody>({
  auth: 'owner',
  parseBody(value) {
    const b = bodyObject(value, ['owner', 'network', 'node', 'publicKey', 'endpoint']);
    return {
      owner: readUint(b['owner'], 'body.owner', MAX_ID, 'TX_BODY_INVALID', 1),
      network: readNetworkName(b['network'], 'body.network'),
      node: readUint(b['node'], 'body.node', MAX_ID, 'TX_BODY_INVALID', 1),
      publicKey: readBase64(b['publicKey'], 'body.publicKey', 32, 'TX_BODY_INVALID', 32),
      endpoint:
        b['endpoint'] === null
          ? null
          : readHostPort(b['endpoint'], 'body.endpoint', 'TX_BODY_INVALID'),
    };
  },
  rule(state, { tx, acceptedAt }) {
    const { owner, network, node: nodeId } = tx.body;
    const node = state.node(nodeId);
    if (!node) refuse('NODE_UNKNOWN', `node ${nodeId} is not registered`);
    if (node.twin !== tx.twin)
      refuse(
        'NODE_NOT_SIGNER',
        `only the node's own key publishes its network membership: node ${nodeId} is twin ${node.twin}, not twin ${tx.twin}`,
      );
    if (!state.twin(owner))
      refuse('NETWORK_OWNER_UNKNOWN', `twin ${owner}, the network's owner, does not exist`);
    const holds = state
      .contractsOfNode(nodeId)
      .some(
        (c) => c.twin === owner && isContractActive(c, acceptedAt) && c.networks.includes(network),
      );
    if (!holds)
      refuse(
        'NETWORK_NO_CONTRACT',
        `a network member is accepted only while its node holds an active contract of the network's owner for that network: node ${nodeId} holds none of twin ${owner} listing network ${network}`,
      );
    const member: NetworkMember = {
      owner,
      network,
      node: nodeId,
      publicKey: tx.body.publicKey,
      endpoint: tx.body.endpoint,
      updatedAt: acceptedAt,
    };
    return effect([{ table: 'members', key: memberKey(owner, network, nodeId), value: member }]);
  },
});
