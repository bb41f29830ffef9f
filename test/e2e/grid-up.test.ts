/*
 * The README's first command: `vdc up` brings the local grid up with the user's twin and a
 * demo farm and says what to open; `vdc down` stops exactly what it started.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { httpJson } from '../../src/core/http-client.ts';
import { tempDir } from '../support/ledger-fixture.ts';
import { runVdc } from '../support/run-vdc.ts';

describe('vdc up / down', () => {
  test('up makes an identity, starts the ledger, registers a twin and a farm; down stops only that', async (t) => {
    const home = tempDir(t, 'vdc-up-');
    const env = { VDC_HOME: home, VDC_PASSPHRASE: 'up test passphrase' };
    t.after(() => runVdc(['down', '--purge'], { env }));
    // A process that is not the grid's, with the grid folder in its command line, must survive `down`.
    const bystander = spawn('sh', ['-c', 'sleep 60', `${home}/grid`], { stdio: 'ignore' });
    t.after(() => bystander.kill());

    const up = await runVdc(['up', '--json'], { env });
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, /write these 24 words down/);
    const summary = JSON.parse(up.stdout);
    assert.equal(summary.twin, 1);
    assert.equal(summary.farm, 1);
    const head = (await httpJson(`${summary.services.ledger}/v1/head`)) as { size: number };
    assert.equal(head.size, 2);

    // Idempotent: a second `up` keeps the running ledger and registers nothing twice.
    const again = await runVdc(['up', '--json'], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout), summary);
    assert.equal(
      ((await httpJson(`${summary.services.ledger}/v1/head`)) as { size: number }).size,
      2,
    );

    const status = JSON.parse((await runVdc(['status', '--json'], { env })).stdout);
    assert.equal(status.services.ledger.running, true);

    const down = await runVdc(['down', '--json'], { env });
    assert.deepEqual(JSON.parse(down.stdout), { stopped: ['ledger', 'relay'], purged: false });
    await assert.rejects(httpJson(`${summary.services.ledger}/v1/head`, { timeoutMs: 1000 }));
    assert.equal(bystander.exitCode, null, 'down left the unrelated process alone');
    assert.deepEqual(JSON.parse((await runVdc(['down', '--json'], { env })).stdout).stopped, []);
  });
});
