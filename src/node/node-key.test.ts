import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { readCapacity, readMemory } from './node-capacity.ts';
import { loadNodeIdentity, NODE_KEY_FILE } from './node-key.ts';

describe('node key and capacity', () => {
  test('creates the key once, mode 0600, and refuses it once others can read it', (t) => {
    const d = mkdtempSync(join(tmpdir(), 'vdc-node-key-'));
    t.after(() => rmSync(d, { recursive: true, force: true }));
    const first = loadNodeIdentity(d);
    assert.equal(first.created, true);
    assert.equal(statSync(join(d, NODE_KEY_FILE)).mode & 0o777, 0o600);
    const again = loadNodeIdentity(d);
    assert.equal(again.created, false);
    assert.deepEqual(again.identity.signingPublicKey, first.identity.signingPublicKey);
    chmodSync(join(d, NODE_KEY_FILE), 0o644);
    assert.throws(
      () => loadNodeIdentity(d),
      (err) => err instanceof VdcError && err.code === 'KEY_INVALID',
    );
  });

  test('reads memory from /proc/meminfo and the disk of the data folder', () => {
    const mem = readMemory(
      'MemTotal:        2048 kB\nMemFree:          512 kB\nMemAvailable:    1024 kB\n',
    );
    assert.deepEqual(mem, { total: 2048 * 1024, available: 1024 * 1024 });
    const cap = readCapacity(tmpdir());
    assert.ok(cap.total.cpu >= 1 && cap.total.memory > 0 && cap.total.disk > 0);
    assert.ok(cap.used.memory <= cap.total.memory && cap.used.disk <= cap.total.disk);
  });
});
