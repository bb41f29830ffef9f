import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { loadStoreConfig, parseStoreConfig } from './store-config.ts';

const GOOD = `
data: 4
parity: 2
minShards: 5
backends:
  - { address: "127.0.0.1:9901", namespace: ns1, password: pw1, node: n1, farm: f1 }
  - { address: "127.0.0.1:9902", namespace: ns2, password: pw2, node: n2 }
`;

function refused(text: string, code: string, message: RegExp): void {
  assert.throws(
    () => parseStoreConfig(text, 'test.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof VdcError);
      assert.equal(err.code, code);
      assert.match(err.message, message);
      return true;
    },
  );
}

describe('store config', () => {
  test('a good config gives the options, with defaults, and the backends', () => {
    const c = parseStoreConfig(GOOD);
    assert.deepEqual(c.options, {
      data: 4,
      parity: 2,
      chunkSize: 4 * 1024 * 1024,
      compressionLevel: 3,
      minShards: 5,
      distinctFarms: false,
    });
    assert.deepEqual(c.backends[0], {
      address: '127.0.0.1:9901',
      namespace: 'ns1',
      password: 'pw1',
      node: 'n1',
      farm: 'f1',
    });
    assert.equal(c.backends[1]!.farm, undefined);
    const tuned = parseStoreConfig(
      `${GOOD}inFlight: 6\nmaintenanceInFlight: 8\nlockSettleMs: 2000\n`,
    );
    assert.equal(tuned.options.inFlight, 6);
    assert.equal(tuned.options.maintenanceInFlight, 8);
    assert.deepEqual(tuned.options.lock, { settleMs: 2000 });
  });

  test('each bad field is refused by name', () => {
    const C = 'ZSTOR_CONFIG_INVALID';
    refused('data: [', C, /^test\.yaml is not valid YAML/);
    refused('- 1', C, /'config' must be an object/);
    refused(`${GOOD}partiy: 3\n`, C, /test\.yaml: 'config' has an unknown field 'partiy'/);
    refused(GOOD.replace('data: 4', 'data: 0'), C, /'data' must be an integer in 1\.\.64/);
    refused(GOOD.replace('data: 4', 'data: "4"'), C, /'data' must be an integer/);
    refused(GOOD.replace('parity: 2', 'parity: 33'), C, /'parity'/);
    refused(
      GOOD.replace('minShards: 5', 'minShards: 4'),
      C,
      /'minShards' must be an integer in 5\.\.6/,
    );
    refused(`${GOOD}chunkSize: 12\n`, C, /'chunkSize'/);
    refused(`${GOOD}inFlight: 0\n`, C, /'inFlight' must be an integer in 1\.\.16/);
    refused(
      `${GOOD}maintenanceInFlight: 33\n`,
      C,
      /'maintenanceInFlight' must be an integer in 1\.\.32/,
    );
    refused(`${GOOD}lockSettleMs: 1\n`, C, /'lockSettleMs'/);
    refused(`${GOOD}distinctFarms: yes\n`, C, /'distinctFarms' must be true or false/);
    refused(`${GOOD}data: 5\n`, C, /not valid YAML: Map keys must be unique/);
    refused('data: 4\nparity: 2\nbackends: []\n', C, /'backends' must be a non-empty list/);
    refused(
      GOOD.replace('address: "127.0.0.1:9901"', 'address: "127.0.0.1"'),
      C,
      /'backends\[0\]\.address' must be HOST:PORT/,
    );
    refused(
      GOOD.replace('namespace: ns1', 'namespace: "a b"'),
      C,
      /'backends\[0\]\.namespace' must match/,
    );
    refused(GOOD.replace('password: pw2, ', ''), C, /'backends\[1\]' lacks the field 'password'/);
    refused(
      GOOD.replace('node: n2', 'node: n2, zone: z'),
      C,
      /'backends\[1\]' has an unknown field 'zone'/,
    );
    refused(GOOD.replace('farm: f1', 'farm: 7'), C, /'backends\[0\]\.farm' must be a string/);
  });

  test('the file must be private to its owner (0600), or it is refused unread', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vdc-store-config-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'store.yaml');
    writeFileSync(path, GOOD, { mode: 0o600 });
    assert.equal(loadStoreConfig(path).backends.length, 2);
    for (const mode of [0o640, 0o604, 0o644, 0o660]) {
      chmodSync(path, mode);
      assert.throws(
        () => loadStoreConfig(path),
        (err: unknown) =>
          err instanceof VdcError &&
          err.code === 'ZSTOR_CONFIG_INSECURE' &&
          err.message.includes(`mode 0${mode.toString(8)}`) &&
          err.message.includes('chmod 600'),
      );
    }
    chmodSync(path, 0o400);
    assert.equal(loadStoreConfig(path).options.data, 4);
    assert.throws(() => loadStoreConfig(join(dir, 'nope.yaml')), { code: 'FILE_NOT_FOUND' });
  });
});
