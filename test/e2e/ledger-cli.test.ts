/*
 * The ledger through the `vdc` command as a user and an operator use it: a real `vdc ledger
 * serve` process, the CLI pinning its key, registering, creating a farm and a name, then an
 * offline audit that passes — and names the entry after a row is edited in SQLite.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { toHex } from '../../src/core/hex.ts';
import { openKeystore } from '../../src/identity/index.ts';
import { LedgerClient } from '../../src/ledger/index.ts';
import { tempDir } from '../support/ledger-fixture.ts';
import { runVdc, VDC_BIN } from '../support/run-vdc.ts';

const PASS = 'ledger cli passphrase';

async function serveLedger(
  t: { after: (fn: () => unknown) => void },
  dir: string,
): Promise<{ url: string; key: string; stop: () => Promise<void> }> {
  const child = spawn(
    VDC_BIN,
    [
      'ledger',
      'serve',
      '--store',
      `sqlite:${join(dir, 'ledger.db')}`,
      '--listen',
      '127.0.0.1:0',
      '--key',
      join(dir, 'ledger.key'),
      '--heartbeat',
      '1000',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const stop = async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  };
  t.after(stop);
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (/listening on/.test(out)) resolve();
    });
    child.once('exit', () => reject(new Error(`ledger exited: ${err}`)));
  });
  const url = /listening on (\S+)/.exec(out)![1]!;
  const key = /ledger key: ([0-9a-f]{64})/.exec(out)![1]!;
  assert.match(err, /"msg":"ledger serving"/, 'the daemon logs JSON lines');
  return { url, key, stop };
}

describe('vdc ledger, twin, farm, name', () => {
  test('a user works against a served ledger, and the operator audits it offline', async (t) => {
    const dir = tempDir(t);
    const home = tempDir(t, 'vdc-home-');
    const ledger = await serveLedger(t, dir);
    const env = { VDC_HOME: home, VDC_PASSPHRASE: PASS, VDC_LEDGER: ledger.url };
    assert.equal((await runVdc(['id', 'new'], { env })).code, 0);

    const head0 = await runVdc(['ledger', 'head', '--json'], { env });
    assert.equal(head0.code, 0, head0.stderr);
    assert.match(head0.stderr, /pinned ledger key [0-9a-f]{64} .*trusted on first use/);
    assert.equal(JSON.parse(head0.stdout).size, 0);

    const reg = await runVdc(['twin', 'register', '--json'], { env });
    assert.equal(reg.code, 0, reg.stderr);
    assert.equal(JSON.parse(reg.stdout).twin, 1);
    const again = await runVdc(['twin', 'register'], { env });
    assert.equal(again.code, 7);
    assert.match(again.stderr, /TWIN_EXISTS/);

    const shown = JSON.parse((await runVdc(['twin', 'show', '1', '--json'], { env })).stdout);
    const me = await openKeystore(join(home, 'identity.json'), PASS);
    assert.equal(shown.signingKey, toHex(me.signingPublicKey));

    const farm = await runVdc(['farm', 'create', 'garage'], { env });
    assert.equal(farm.code, 0, farm.stderr);
    assert.equal(farm.stdout.trim(), '1');
    const nodeKey = 'ab'.repeat(32);
    const grant = await runVdc(['farm', 'enrol', '--farm', '1', '--node-key', nodeKey], { env });
    assert.equal(grant.code, 0, grant.stderr);
    const signed = JSON.parse(grant.stdout);
    assert.equal(signed.grant.nodeKey, nodeKey);
    assert.match(signed.grantSignature, /^[0-9a-f]{128}$/);
    assert.equal(
      (await runVdc(['farm', 'enrol', '--farm', '9', '--node-key', nodeKey], { env })).code,
      6,
    );

    // A gateway registered by the farmer (its own command comes with the gateway), then a name on it.
    const client = await LedgerClient.connect({ url: ledger.url, home });
    await client.submit(me, 'gateway.register', {
      farm: 1,
      domain: 'gw.example.org',
      tunnelAddress: '127.0.0.1:7443',
      tunnelSpkiSha256: '11'.repeat(32),
    });
    const name = await runVdc(
      ['name', 'register', 'blog', '--gateway', 'gw.example.org', '--json'],
      { env },
    );
    assert.equal(name.code, 0, name.stderr);
    assert.equal(JSON.parse(name.stdout).domain, 'blog.gw.example.org');
    // The owner sets rules on the name contract; what is not given stays.
    const rules = join(home, 'rules.json');
    writeFileSync(
      rules,
      JSON.stringify({ methods: ['GET'], rateLimit: { requests: 10, perSeconds: 1 } }),
    );
    const toHttp = await runVdc(['name', 'update', 'blog', '--mode', 'http', '--rules', rules], {
      env,
    });
    assert.equal(toHttp.code, 0, toHttp.stderr);
    await client.follower.sync();
    assert.deepEqual(client.follower.view.name('blog')?.rules, {
      methods: ['GET'],
      rateLimit: { requests: 10, perSeconds: 1 },
    });
    assert.equal(client.follower.view.name('blog')?.mode, 'http');
    // HTTP-only rules on a passthrough name are refused by the ledger, and nothing changes.
    const refused = await runVdc(['name', 'update', 'blog', '--mode', 'tls-passthrough'], { env });
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /TX_BODY_INVALID/);
    writeFileSync(rules, '{"methods": ["GET"], "methods": ["POST"]}');
    const dup = await runVdc(['name', 'update', 'blog', '--rules', rules], { env });
    assert.equal(dup.code, 2, dup.stderr);
    await client.follower.sync();
    assert.equal(client.follower.view.name('blog')?.mode, 'http');
    assert.equal((await runVdc(['name', 'release', 'blog'], { env })).code, 0);

    const entries = await runVdc(['ledger', 'entries', '--json'], { env });
    assert.equal(entries.code, 0, entries.stderr);
    assert.deepEqual(
      JSON.parse(entries.stdout).map((e: { tx: { type: string } }) => e.tx.type),
      [
        'twin.create',
        'farm.create',
        'gateway.register',
        'name.register',
        'name.update',
        'name.release',
      ],
    );

    // A server presenting another key than the pinned one is refused.
    const other = await runVdc(['ledger', 'head', '--ledger-key', 'cd'.repeat(32)], { env });
    assert.equal(other.code, 4);
    assert.match(other.stderr, /LEDGER_KEY_MISMATCH/);

    await ledger.stop();
    const store = `sqlite:${join(dir, 'ledger.db')}`;
    const ok = await runVdc([
      'ledger',
      'verify',
      '--store',
      store,
      '--key',
      join(dir, 'ledger.key'),
      '--json',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).size, 6);
    const rebuilt = await runVdc([
      'ledger',
      'rebuild',
      '--store',
      store,
      '--ledger-key',
      ledger.key,
      '--json',
    ]);
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.equal(JSON.parse(rebuilt.stdout).digest, JSON.parse(ok.stdout).digest);
    assert.deepEqual(JSON.parse(rebuilt.stdout).counts, {
      twins: 1,
      farms: 1,
      nodes: 0,
      gateways: 1,
      contracts: 0,
      names: 0,
    });

    // An operator with database access edits a row: the audit names it.
    const db = new DatabaseSync(join(dir, 'ledger.db'));
    const row = db.prepare('SELECT bytes FROM leaves WHERE seq = 1').get() as { bytes: Uint8Array };
    db.prepare('UPDATE leaves SET bytes = ? WHERE seq = 1').run(
      Buffer.from(Buffer.from(row.bytes).toString().replace('garage', 'GARAGE')),
    );
    db.close();
    const bad = await runVdc([
      'ledger',
      'verify',
      '--store',
      store,
      '--key',
      join(dir, 'ledger.key'),
    ]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /entry 1 is bad/);
    assert.equal(
      (await runVdc(['ledger', 'verify', '--store', store])).code,
      2,
      'an audit without the ledger key is a usage error',
    );
  });
});
