import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { canonicalize } from '../core/canonical-json.ts';
import { parseJson } from '../core/strict-json.ts';
import { Projection } from './projection.ts';
import { randomHistory } from './projection-history.ts';
import { DAY, keyOf, newIdentity, TxKit } from './tx-test-kit.ts';

describe('Projection.apply', () => {
  it('leaves the projection unchanged when a rule refuses after the signer checks passed', () => {
    const kit = new TxKit();
    const { node } = kit.grid();
    const owner = kit.twin();
    const other = kit.twin();
    const c = kit.contract(other, node.node);
    const agent = newIdentity();
    kit.submit(owner.identity, 'delegate.grant', owner.twin, {
      key: keyOf(agent),
      types: ['contract.cancel'],
      counts: { 'contract.cancel': 5 },
      expiresAt: kit.now + DAY,
    });
    // Nonce, signature and delegation all pass; the contract rule refuses. Neither the
    // delegation's use count nor the agent's nonce may move.
    kit.refuseTx(
      agent,
      'contract.cancel',
      owner.twin,
      { contract: c, reason: 'user' },
      'CONTRACT_NOT_OWNER',
    );
    assert.deepEqual(kit.projection.delegation(keyOf(agent))?.used, {});
    assert.equal(kit.projection.nonce(keyOf(agent)), undefined);
  });

  it('refuses leaves out of order and acceptedAt going backwards', () => {
    const kit = new TxKit();
    kit.twin();
    const id = newIdentity();
    const sub = kit.submission(id, 'twin.create', 0, {
      encryptionKey: '00'.repeat(32),
      relays: [],
    });
    kit.refuse({ seq: 5, acceptedAt: kit.now, ...sub }, 'TX_LEAF_OUT_OF_ORDER');
    kit.refuse({ seq: 0, acceptedAt: kit.now, ...sub }, 'TX_LEAF_OUT_OF_ORDER');
    kit.refuse({ seq: 1, acceptedAt: kit.now - 1, ...sub }, 'TX_LEAF_TIME_BACKWARDS');
    kit.projection.apply({ seq: 1, acceptedAt: kit.now, ...sub });
    assert.equal(kit.projection.size, 2);
  });

  it('commits a plan only against the state it was made on', () => {
    const kit = new TxKit();
    const a = kit.twin();
    const plan = kit.projection.plan(
      kit.leaf(kit.submission(a.identity, 'farm.create', a.twin, { name: 'x' })),
    );
    assert.equal(kit.projection.size, 1, 'plan changes nothing');
    kit.submit(a.identity, 'farm.create', a.twin, { name: 'y' });
    assert.throws(() => kit.projection.commit(plan), { code: 'TX_LEAF_OUT_OF_ORDER' });
  });

  it('answers with the ids it created', () => {
    const kit = new TxKit();
    const farmer = kit.twin();
    const farm = kit.farm(farmer);
    const n = kit.node(farmer, farm);
    assert.deepEqual([n.twin, n.node], [2, 1]);
  });

  it('hands out frozen rows', () => {
    const kit = new TxKit();
    const a = kit.twin(['wss://r.example.org/']);
    const twin = kit.projection.twin(a.twin)!;
    assert.throws(() => {
      (twin as { id: number }).id = 9;
    }, TypeError);
    assert.throws(() => (twin.relays as string[]).push('x'), TypeError);
  });

  it('rejects a ledger id that is not 32 bytes of hex', () => {
    assert.throws(() => new Projection('abc'), { code: 'INPUT_INVALID' });
  });
});

describe('canonical snapshot', () => {
  it('is equal for equal histories and differs after a change', () => {
    const kit = new TxKit();
    const a = kit.twin();
    const before = kit.projection.canonicalSnapshot();
    assert.equal(Projection.replay(kit.ledger, []).size, 0);
    kit.submit(a.identity, 'farm.create', a.twin, { name: 'x' });
    assert.notEqual(kit.projection.canonicalSnapshot(), before);
    assert.equal(kit.projection.digest().length, 64);
  });
});

/** What the index-backed queries answer, over every row. */
function queryView(p: Projection, at: number) {
  const snap = p.snapshot();
  return {
    byKey: snap.twins.map((t) => p.twinByKey(t.signingKey)?.id),
    nodes: snap.nodes.map((n) => [
      p.nodeByTwin(n.twin)?.id,
      p.nodesOfFarm(n.farm).length,
      p.contractsOfNode(n.id).map((c) => c.id),
      p.activeContractsOfNode(n.id, at).length,
    ]),
    farms: snap.twins.map((t) => [
      p.farmsOf(t.id).map((f) => f.id),
      p.contractsOfTwin(t.id).map((c) => c.id),
    ]),
    gateways: snap.gateways.map((g) => p.gatewayByDomain(g.domain)?.id),
    members: snap.twins.flatMap((t) =>
      ['net1', 'net2'].map((n) => p.networkMembers(t.id, n, at).map((m) => m.node)),
    ),
  };
}

describe('rebuilt from the log equals the incremental projection', () => {
  for (let run = 0; run < 3; run++) {
    const seed = randomInt(2 ** 31);
    it(`holds for a random history (seed ${seed})`, () => {
      const { kit, leaves, refused } = randomHistory(seed, 400);
      assert.ok(leaves.length > 150, `only ${leaves.length} leaves accepted`);
      assert.ok(refused.size >= 3, `too few kinds of refusal: ${[...refused.keys()].join(', ')}`);
      // As a store would hand them back: canonical JSON bytes, parsed strictly.
      const stored = leaves.map((leaf) => parseJson(canonicalize(leaf)) as unknown as typeof leaf);
      const rebuilt = Projection.replay(kit.ledger, stored);
      assert.equal(rebuilt.canonicalSnapshot(), kit.projection.canonicalSnapshot());
      assert.equal(rebuilt.digest(), kit.projection.digest());
      // The indexes behind the queries agree too (they are not part of the snapshot).
      assert.deepEqual(queryView(rebuilt, kit.now), queryView(kit.projection, kit.now));
      // A prefix rebuilt and then fed the rest also converges.
      const half = Projection.replay(kit.ledger, stored.slice(0, leaves.length >> 1));
      for (const leaf of stored.slice(leaves.length >> 1)) half.apply(leaf);
      assert.equal(half.canonicalSnapshot(), kit.projection.canonicalSnapshot());
    });
  }
});
