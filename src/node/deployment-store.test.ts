import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { Identity } from '../identity/index.ts';
import { deploymentHash, newSalt, signDeployment } from './deployment-document.ts';
import { DeploymentStore, MAX_CHANGES, type StoredDeployment } from './deployment-store.ts';

function dir(t: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'vdc-store-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const owner = Identity.fromSeed(randomBytes(64));
function record(contract: number, version = 1): StoredDeployment {
  const deployment = signDeployment(
    owner,
    { version, twin: 5, salt: newSalt(), workloads: [] },
    { ledger: 'aa'.repeat(32), node: 1, contract },
  );
  return {
    contract,
    twin: 5,
    version,
    hash: deploymentHash(deployment),
    deployment,
    workloads: [],
    createdAt: 1,
    updatedAt: 2,
    changes: [{ at: 1, version, event: 'deployed', message: '' }],
  };
}

describe('deployment store', () => {
  test('keeps records across a reopen, in files only the node reads', (t) => {
    const d = dir(t);
    const store = new DeploymentStore(d);
    store.put(record(3));
    store.put(record(1));
    const again = new DeploymentStore(d);
    assert.deepEqual(
      again.all().map((r) => r.contract),
      [1, 3],
    );
    assert.deepEqual(again.get(3), store.get(3));
    assert.equal(statSync(join(d, '3.json')).mode & 0o777, 0o600);
    again.remove(3);
    assert.deepEqual(readdirSync(d), ['1.json']);
  });

  test('keeps the newest changes only', (t) => {
    const store = new DeploymentStore(dir(t));
    const r = record(1);
    r.changes = Array.from({ length: MAX_CHANGES + 5 }, (_, i) => ({
      at: i,
      version: 1,
      event: 'fenced' as const,
      message: '',
    }));
    store.put(r);
    assert.equal(store.get(1)!.changes.length, MAX_CHANGES);
    assert.equal(store.get(1)!.changes[0]!.at, 5);
  });

  test('refuses to start over a record that does not read back, and ignores temporary files', (t) => {
    const d = dir(t);
    new DeploymentStore(d).put(record(2));
    writeFileSync(join(d, '.2.json.abc.tmp'), 'half a write');
    assert.equal(new DeploymentStore(d).all().length, 1);
    const wrong = { ...record(4), version: 9 };
    writeFileSync(join(d, '4.json'), JSON.stringify(wrong));
    assert.throws(
      () => new DeploymentStore(d),
      (err) => err instanceof VdcError && err.code === 'NODE_STATE_CORRUPT',
    );
    writeFileSync(join(d, '4.json'), '{"contract": 4, "contract": 5}');
    assert.throws(
      () => new DeploymentStore(d),
      (err) => err instanceof VdcError && err.code === 'NODE_STATE_CORRUPT',
    );
  });
});
