import type { LedgerNode, Resources, Twin } from '../projection-state.ts';
import { readHex, readObject, readUint } from '../tx-fields.ts';
import { MAX_ID } from '../tx-format.ts';
import { type EnrolGrant, enrolGrantVerifies, readEnrolGrant } from './enrol-grant.ts';
import { bodyObject, defineTx, effect, keyHolder, refuse } from './rule.ts';
import { readEncryptionKey, readRelays } from './twin.ts';

/*
 * node.register is signed by the node's own key and creates two rows: the node's twin (its
 * signing key is the node key; it has the node's encryption key and relays, so the node is
 * reached like any twin) and the node (farm, twin). The node twin's id and the node id are
 * each sequential in their own table; nodeByTwin and node.twin map one to the other.
 * node.report is signed by the node's twin key only: uptime, capacity and the newest log
 * head the node verified.
 */

const MAX_RESOURCE = Number.MAX_SAFE_INTEGER;
const MAX_UPTIME_S = 2 ** 40;

export interface NodeRegisterBody {
  farm: number;
  encryptionKey: string;
  relays: string[];
  grant: EnrolGrant;
  grantSignature: string;
}

export interface NodeReportBody {
  node: number;
  uptime: number;
  capacity: { total: Resources; used: Resources };
  head: { size: number; root: string } | null;
}

function readResources(value: unknown, label: string): Resources {
  const o = readObject(value, label, ['cpu', 'memory', 'disk'], [], 'TX_BODY_INVALID');
  return {
    cpu: readUint(o['cpu'], `${label}.cpu`, 65_536, 'TX_BODY_INVALID'),
    memory: readUint(o['memory'], `${label}.memory`, MAX_RESOURCE, 'TX_BODY_INVALID'),
    disk: readUint(o['disk'], `${label}.disk`, MAX_RESOURCE, 'TX_BODY_INVALID'),
  };
}

export const nodeRegister = defineTx<NodeRegisterBody>({
  auth: 'self',
  parseBody(value) {
    const b = bodyObject(value, ['farm', 'encryptionKey', 'relays', 'grant', 'grantSignature']);
    return {
      farm: readUint(b['farm'], 'body.farm', MAX_ID, 'TX_BODY_INVALID', 1),
      encryptionKey: readEncryptionKey(b['encryptionKey'], 'body.encryptionKey'),
      relays: readRelays(b['relays'], 'body.relays'),
      grant: readEnrolGrant(b['grant'], 'body.grant'),
      grantSignature: readHex(b['grantSignature'], 'body.grantSignature', 64, 'TX_BODY_INVALID'),
    };
  },
  rule(state, { tx, acceptedAt }) {
    const { farm: farmId, grant, grantSignature } = tx.body;
    const farm = state.farm(farmId);
    if (!farm)
      refuse(
        'FARM_UNKNOWN',
        `farm ${farmId} does not exist: enrol into a farm created on this ledger`,
      );
    if (grant.farm !== farmId)
      refuse(
        'ENROL_GRANT_WRONG_FARM',
        `only a farm's owner enrols nodes in it: the grant is for farm ${grant.farm}, not farm ${farmId}; ask farm ${farmId}'s owner for a grant`,
      );
    if (grant.ledger !== state.ledger)
      refuse(
        'ENROL_GRANT_WRONG_LEDGER',
        `the enrolment grant is for ledger ${grant.ledger}, not this ledger ${state.ledger}: ask the farmer for a grant on this ledger`,
      );
    if (grant.nodeKey !== tx.signer)
      refuse(
        'ENROL_GRANT_WRONG_NODE',
        `the enrolment grant is for node key ${grant.nodeKey}, but the node signing is ${tx.signer}: a grant enrols only the node it names`,
      );
    if (acceptedAt >= grant.expires)
      refuse(
        'ENROL_GRANT_EXPIRED',
        `the enrolment grant expired at ${new Date(grant.expires).toISOString()}: ask the farmer for a new one`,
      );
    const owner = state.twin(farm.owner)!;
    if (!enrolGrantVerifies(grant, grantSignature, owner.signingKey))
      refuse(
        'ENROL_GRANT_INVALID',
        `only a farm's owner enrols nodes in it: the grant is not signed under vdc/enrol/v1 by farm ${farmId}'s owner (twin ${owner.id}, key ${owner.signingKey})`,
      );
    const holder = keyHolder(state, tx.signer);
    if (holder)
      refuse(
        'TWIN_KEY_TAKEN',
        `twin keys are unique: node key ${tx.signer} is already ${holder}; a node registers once`,
      );
    const twinId = state.nextId('twins');
    const nodeId = state.nextId('nodes');
    const twin: Twin = {
      id: twinId,
      signingKey: tx.signer,
      encryptionKey: tx.body.encryptionKey,
      relays: tx.body.relays,
      createdAt: acceptedAt,
      updatedAt: acceptedAt,
    };
    const node: LedgerNode = {
      id: nodeId,
      twin: twinId,
      farm: farmId,
      registeredAt: acceptedAt,
      report: null,
      head: null,
    };
    return effect(
      [
        { table: 'twins', key: twinId, value: twin },
        { table: 'nodes', key: nodeId, value: node },
      ],
      { twins: twinId, nodes: nodeId },
    );
  },
});

export const nodeReport = defineTx<NodeReportBody>({
  auth: 'owner',
  parseBody(value) {
    const b = bodyObject(value, ['node', 'uptime', 'capacity', 'head']);
    const c = readObject(b['capacity'], 'body.capacity', ['total', 'used'], [], 'TX_BODY_INVALID');
    let head: NodeReportBody['head'] = null;
    if (b['head'] !== null) {
      const h = readObject(b['head'], 'body.head', ['size', 'root'], [], 'TX_BODY_INVALID');
      head = {
        size: readUint(h['size'], 'body.head.size', Number.MAX_SAFE_INTEGER, 'TX_BODY_INVALID'),
        root: readHex(h['root'], 'body.head.root', 32, 'TX_BODY_INVALID'),
      };
    }
    return {
      node: readUint(b['node'], 'body.node', MAX_ID, 'TX_BODY_INVALID', 1),
      uptime: readUint(b['uptime'], 'body.uptime', MAX_UPTIME_S, 'TX_BODY_INVALID'),
      capacity: {
        total: readResources(c['total'], 'body.capacity.total'),
        used: readResources(c['used'], 'body.capacity.used'),
      },
      head,
    };
  },
  rule(state, { tx, seq, acceptedAt }) {
    const node = state.node(tx.body.node);
    if (!node)
      refuse(
        'NODE_UNKNOWN',
        `node ${tx.body.node} is not registered: register it before it reports`,
      );
    if (node.twin !== tx.twin)
      refuse(
        'NODE_NOT_SIGNER',
        `only the node's own key reports for it: node ${node.id} is twin ${node.twin}, but this report is from twin ${tx.twin}`,
      );
    const { head } = tx.body;
    const next: LedgerNode = {
      ...node,
      report: { at: acceptedAt, uptime: tx.body.uptime, capacity: tx.body.capacity },
    };
    if (head) {
      // The log held `seq` leaves before this one: no honest node verified a bigger tree.
      if (head.size > seq)
        refuse(
          'NODE_HEAD_AHEAD',
          `the report claims a verified head of size ${head.size}, but the log held ${seq} leaves when it was accepted`,
        );
      // A node's verified view only grows; a smaller head means its pinned state rolled back.
      if (node.head && head.size < node.head.size)
        refuse(
          'NODE_HEAD_BEHIND',
          `node ${node.id} reported a head of size ${node.head.size} before and now ${head.size}: a node's verified head never shrinks`,
        );
      next.head = { size: head.size, root: head.root, at: acceptedAt };
    }
    return effect([{ table: 'nodes', key: node.id, value: next }]);
  },
});
