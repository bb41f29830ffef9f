/*
 * `vdc store` as a user runs it: six `vdc zdb serve` processes, a YAML config, the user's
 * identity, and a file put, listed, read back byte-identical through bin/vdc, then removed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startZdbProcesses, writeStoreConfig } from '../../src/zstor/zdb-backend-test-kit.ts';
import { tempDir } from '../support/ledger-fixture.ts';
import { runVdc } from '../support/run-vdc.ts';

describe('vdc store', () => {
  test('put, ls, get and rm through bin/vdc over six zdb processes', async (t) => {
    const home = tempDir(t, 'vdc-store-home-');
    const env = { VDC_HOME: home, VDC_PASSPHRASE: 'store cli passphrase' };
    assert.equal((await runVdc(['id', 'new'], { env })).code, 0);
    const zdbs = await startZdbProcesses(t, 6);
    const config = writeStoreConfig(
      join(home, 'store.yaml'),
      zdbs.map((z) => ({ backend: z.backend })) as never,
    );
    const file = join(home, 'photo.bin');
    const content = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(file, content);

    const put = await runVdc(
      ['store', '--config', config, 'put', 'holiday/photo.bin', file, '--json'],
      { env },
    );
    assert.equal(put.code, 0, put.stderr);
    const ls = await runVdc(['store', '--config', config, 'ls', '--json'], { env });
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /holiday\/photo\.bin/);
    const out = join(home, 'back.bin');
    const get = await runVdc(['store', '--config', config, 'get', 'holiday/photo.bin', out], {
      env,
    });
    assert.equal(get.code, 0, get.stderr);
    assert.ok(readFileSync(out).equals(content), 'read back byte-identical');

    const check = await runVdc(['store', '--config', config, 'check'], { env });
    assert.equal(check.code, 0, check.stderr);
    assert.equal(
      (await runVdc(['store', '--config', config, 'rm', 'holiday/photo.bin'], { env })).code,
      0,
    );
    const gone = await runVdc(['store', '--config', config, 'get', 'holiday/photo.bin', out], {
      env,
    });
    assert.equal(gone.code, 6, gone.stderr);
  });
});
