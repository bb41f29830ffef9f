import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toHex } from '../../core/hex.ts';
import { DAY, keyOf, newIdentity, TxKit } from '../tx-test-kit.ts';

function setup() {
  const kit = new TxKit();
  const farmer = kit.twin();
  const farm = kit.farm(farmer);
  return { kit, farmer, farm };
}

const report = (node: number, head: { size: number; root: string } | null = null) => ({
  node,
  uptime: 60,
  capacity: { total: { cpu: 4, memory: 8e9, disk: 1e12 }, used: { cpu: 1, memory: 1e9, disk: 0 } },
  head,
});
const ROOT = 'ab'.repeat(32);

describe('node.register', () => {
  it("creates the node's twin and the node, mapped both ways", () => {
    const { kit, farmer, farm } = setup();
    const n = kit.node(farmer, farm);
    assert.equal(n.twin, 2);
    assert.equal(n.node, 1);
    const node = kit.projection.node(1)!;
    assert.equal(node.twin, n.twin);
    assert.equal(node.farm, farm);
    assert.equal(kit.projection.nodeByTwin(n.twin)?.id, 1);
    assert.equal(kit.projection.nodeByKey(n.key)?.id, 1);
    assert.equal(kit.projection.twin(n.twin)?.signingKey, n.key);
    assert.deepEqual(
      kit.projection.nodesOfFarm(farm).map((x) => x.id),
      [1],
    );
  });

  it("refuses a grant not signed by the farm's owner", () => {
    const { kit, farm } = setup();
    const stranger = kit.twin();
    const id = newIdentity();
    const signed = kit.enrolGrant(stranger.identity, { farm, nodeKey: keyOf(id) });
    kit.refuseTx(id, 'node.register', 0, kit.nodeBody(id, farm, signed), 'ENROL_GRANT_INVALID');
  });

  it('refuses a grant for another farm, ledger or node, an expired one, and an unknown farm', () => {
    const { kit, farmer, farm } = setup();
    const farm2 = kit.farm(farmer, 'second');
    const id = newIdentity();
    const key = keyOf(id);
    const forFarm2 = kit.enrolGrant(farmer.identity, { farm: farm2, nodeKey: key });
    kit.refuseTx(
      id,
      'node.register',
      0,
      kit.nodeBody(id, farm, forFarm2),
      'ENROL_GRANT_WRONG_FARM',
    );
    const otherLedger = kit.enrolGrant(farmer.identity, {
      farm,
      nodeKey: key,
      ledger: 'cd'.repeat(32),
    });
    kit.refuseTx(
      id,
      'node.register',
      0,
      kit.nodeBody(id, farm, otherLedger),
      'ENROL_GRANT_WRONG_LEDGER',
    );
    const otherNode = kit.enrolGrant(farmer.identity, { farm, nodeKey: keyOf(newIdentity()) });
    kit.refuseTx(
      id,
      'node.register',
      0,
      kit.nodeBody(id, farm, otherNode),
      'ENROL_GRANT_WRONG_NODE',
    );
    const expiring = kit.enrolGrant(farmer.identity, {
      farm,
      nodeKey: key,
      expires: kit.now + 1000,
    });
    kit.advance(1000);
    kit.refuseTx(id, 'node.register', 0, kit.nodeBody(id, farm, expiring), 'ENROL_GRANT_EXPIRED');
    const unknown = kit.enrolGrant(farmer.identity, { farm: 9, nodeKey: key });
    kit.refuseTx(id, 'node.register', 0, kit.nodeBody(id, 9, unknown), 'FARM_UNKNOWN');
  });

  it('refuses a node key that is already a twin (a node registers once)', () => {
    const { kit, farmer, farm } = setup();
    const n = kit.node(farmer, farm);
    const signed = kit.enrolGrant(farmer.identity, { farm, nodeKey: n.key });
    kit.refuseTx(
      n.identity,
      'node.register',
      0,
      kit.nodeBody(n.identity, farm, signed),
      'TWIN_KEY_TAKEN',
    );
  });

  it("refuses a grant whose signature was made by the farmer's key under another tag", () => {
    const { kit, farmer, farm } = setup();
    const id = newIdentity();
    const { grant } = kit.enrolGrant(farmer.identity, { farm, nodeKey: keyOf(id) });
    const grantSignature = toHex(farmer.identity.sign('vdc/grant/v1', grant));
    kit.refuseTx(
      id,
      'node.register',
      0,
      kit.nodeBody(id, farm, { grant, grantSignature }),
      'ENROL_GRANT_INVALID',
    );
  });
});

describe('node.report', () => {
  it('records capacity, uptime and the newest verified head', () => {
    const { kit, farmer, farm } = setup();
    const n = kit.node(farmer, farm);
    kit.advance(DAY);
    kit.submit(n.identity, 'node.report', n.twin, report(n.node, { size: 3, root: ROOT }));
    const node = kit.projection.node(n.node)!;
    assert.equal(node.report?.at, kit.now);
    assert.equal(node.report?.capacity.total.cpu, 4);
    assert.deepEqual(node.head, { size: 3, root: ROOT, at: kit.now });
    kit.submit(n.identity, 'node.report', n.twin, report(n.node, null));
    assert.equal(
      kit.projection.node(n.node)!.head?.size,
      3,
      'a report without a head keeps the last one',
    );
  });

  it('refuses a report signed by anyone but the node', () => {
    const { kit, farmer, farm } = setup();
    const n = kit.node(farmer, farm);
    kit.refuseTx(farmer.identity, 'node.report', farmer.twin, report(n.node), 'NODE_NOT_SIGNER');
    kit.refuseTx(
      farmer.identity,
      'node.report',
      n.twin,
      report(n.node),
      'TX_SIGNER_NOT_AUTHORISED',
    );
    kit.refuseTx(n.identity, 'node.report', n.twin, report(5), 'NODE_UNKNOWN');
  });

  it('refuses a head bigger than the log, or smaller than the last one reported', () => {
    const { kit, farmer, farm } = setup();
    const n = kit.node(farmer, farm);
    const size = kit.projection.size;
    kit.refuseTx(
      n.identity,
      'node.report',
      n.twin,
      report(n.node, { size: size + 1, root: ROOT }),
      'NODE_HEAD_AHEAD',
    );
    kit.submit(n.identity, 'node.report', n.twin, report(n.node, { size, root: ROOT }));
    kit.refuseTx(
      n.identity,
      'node.report',
      n.twin,
      report(n.node, { size: size - 1, root: ROOT }),
      'NODE_HEAD_BEHIND',
    );
  });

  it('refuses capacity fields out of bounds', () => {
    const { kit, farmer, farm } = setup();
    const n = kit.node(farmer, farm);
    const bad = report(n.node);
    bad.capacity.total.cpu = -1;
    kit.refuseTx(n.identity, 'node.report', n.twin, bad, 'TX_BODY_INVALID');
  });
});
