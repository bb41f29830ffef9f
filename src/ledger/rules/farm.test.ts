import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TxKit } from '../tx-test-kit.ts';

describe('farm.create', () => {
  it('makes the signing twin the owner, with sequential ids', () => {
    const kit = new TxKit();
    const a = kit.twin();
    assert.equal(kit.farm(a, 'north'), 1);
    assert.equal(kit.farm(a, 'south'), 2);
    assert.deepEqual(
      kit.projection.farmsOf(a.twin).map((f) => f.name),
      ['north', 'south'],
    );
  });

  it('refuses a name out of bounds and unknown fields', () => {
    const kit = new TxKit();
    const a = kit.twin();
    kit.refuseTx(a.identity, 'farm.create', a.twin, { name: '' }, 'TX_BODY_INVALID');
    kit.refuseTx(a.identity, 'farm.create', a.twin, { name: 'x'.repeat(65) }, 'TX_BODY_INVALID');
    kit.refuseTx(a.identity, 'farm.create', a.twin, { name: 'ok', owner: 7 }, 'TX_BODY_INVALID');
  });

  it('refuses a twin that does not exist', () => {
    const kit = new TxKit();
    const a = kit.twin();
    kit.refuseTx(a.identity, 'farm.create', 42, { name: 'x' }, 'TX_TWIN_UNKNOWN');
  });
});
