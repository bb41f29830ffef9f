import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import { freeLoopbackPort } from '../../src/core/free-port.ts';
import { startEchoBackend } from '../../src/gateway/gateway-test-kit.ts';
import { certSha256, makeSelfSignedCert } from '../../src/gateway/index.ts';
import { startTestLedger, tempDir } from '../support/ledger-fixture.ts';
import { requireCommand } from '../support/requirements.ts';
import { runVdc, VDC_BIN } from '../support/run-vdc.ts';

const PASS = 'gateway cli passphrase';
const run = promisify(execFile);

/** A long-running vdc process; stopped (by its own pid) after the test. */
function daemon(
  t: { after: (fn: () => unknown) => void },
  args: string[],
  env: Record<string, string>,
) {
  const child: ChildProcess = spawn(VDC_BIN, args, {
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: process.env['HOME'] ?? '/root',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  return { child, exited, out: () => stdout, err: () => stderr };
}

/** The --json document once it is all printed. */
function printed<V>(out: string): V | undefined {
  try {
    return JSON.parse(out) as V;
  } catch {
    return undefined;
  }
}

async function until<V>(
  what: string,
  probe: () => V | undefined | Promise<V | undefined>,
  ms = 20_000,
): Promise<V> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A ledger and one home per person, each with an identity and a twin; the first person
 * (the gateway's operator) owns the farm `edge`.
 */
async function people<N extends string>(
  t: TestContext,
  operator: N,
  ...others: N[]
): Promise<Record<N, Home>> {
  const ledger = await startTestLedger(t, tempDir(t));
  const homes = {} as Record<N, Home>;
  for (const name of [operator, ...others]) {
    const env = {
      VDC_HOME: tempDir(t, `vdc-${name}-`),
      VDC_PASSPHRASE: PASS,
      VDC_LEDGER: ledger.url,
    };
    assert.equal((await runVdc(['id', 'new'], { env })).code, 0);
    assert.equal((await runVdc(['twin', 'register'], { env })).code, 0);
    homes[name] = env;
  }
  assert.equal((await runVdc(['farm', 'create', 'edge'], { env: homes[operator] })).code, 0);
  return homes;
}

type Home = { VDC_HOME: string; VDC_PASSPHRASE: string; VDC_LEDGER: string };

/** `vdc gateway serve` for gw.test as the operator `op`, tunnels on `tunnelPort`. */
function serveGateway(t: TestContext, op: Home, tunnelPort: number, extra: string[] = []) {
  return daemon(
    t,
    [
      'gateway',
      'serve',
      '--domain',
      'gw.test',
      '--http',
      '127.0.0.1:0',
      '--https',
      '127.0.0.1:0',
      '--tunnel',
      `127.0.0.1:${tunnelPort}`,
      '--key',
      join(op.VDC_HOME, 'gateway', 'tunnel.key'),
      '--json',
      ...extra,
    ],
    op,
  );
}

test('vdc gateway serve and vdc tunnel serve a name; a stranger’s vdc tunnel exits non-zero', async (t) => {
  if (!requireCommand(t, 'curl') || !requireCommand(t, 'openssl')) return;
  const { op, user, stranger } = await people(t, 'op', 'user', 'stranger');
  const tunnelPort = await freeLoopbackPort();
  const gw = serveGateway(t, op, tunnelPort);
  const info = await until('the gateway', () => {
    return printed<{ gateway: number; http: string; registered: boolean }>(gw.out());
  });
  assert.equal(info.registered, true);
  const reg = await runVdc(['name', 'register', 'app', '--gateway', 'gw.test', '--mode', 'http'], {
    env: user,
  });
  assert.equal(reg.code, 0, reg.stderr);
  const backend = await startEchoBackend(t);
  daemon(t, ['tunnel', '--name', 'app', '--to', `127.0.0.1:${backend.port}`], user);
  const httpPort = info.http.split(':')[1]!;
  const host = 'app.gw.test';
  const body = await until('a response through the tunnel', async () => {
    const { stdout } = await run('curl', [
      '-s',
      '--resolve',
      `${host}:${httpPort}:127.0.0.1`,
      `http://${host}:${httpPort}/hi`,
    ]).catch(() => ({ stdout: '' }));
    return stdout.startsWith('{') ? stdout : undefined;
  });
  assert.equal((JSON.parse(body) as { url: string }).url, '/hi');
  const bad = daemon(t, ['tunnel', '--name', 'app', '--to', `127.0.0.1:${backend.port}`], stranger);
  assert.equal(await bad.exited, 5, bad.err());
  assert.match(bad.err(), /TUNNEL_NOT_NAME_OWNER/);
  // A restarted gateway finds its registration instead of registering again.
  gw.child.kill('SIGTERM');
  assert.equal(await gw.exited, 0, gw.err());
  const again = serveGateway(t, op, tunnelPort);
  const info2 = await until('the gateway again', () => {
    return printed<{ gateway: number; registered: boolean; keyCreated: boolean }>(again.out());
  });
  assert.deepEqual(
    [info2.gateway, info2.registered, info2.keyCreated],
    [info.gateway, false, false],
  );
});

test('vdc tunnel --tls-cert serves a pinned name over https; vdc name update to a new pin stops it', async (t) => {
  if (!requireCommand(t, 'curl') || !requireCommand(t, 'openssl')) return;
  const { op, user } = await people(t, 'op', 'user');
  const gw = serveGateway(t, op, await freeLoopbackPort());
  const info = await until('the gateway', () => printed<{ https: string }>(gw.out()));
  const host = 'app.gw.test';
  const dir = tempDir(t);
  const cert = join(dir, 'app.crt');
  const key = join(dir, 'app.key');
  makeSelfSignedCert(key, cert, { cn: host, days: 1, san: host });
  const rules = join(dir, 'rules.json');
  writeFileSync(rules, JSON.stringify({ tlsCertSha256: certSha256(readFileSync(cert)) }));
  const reg = await runVdc(
    ['name', 'register', 'app', '--gateway', 'gw.test', '--mode', 'http', '--rules', rules],
    { env: user },
  );
  assert.equal(reg.code, 0, reg.stderr);
  const backend = await startEchoBackend(t);
  const tunnel = daemon(
    t,
    [
      'tunnel',
      '--name',
      'app',
      '--to',
      `127.0.0.1:${backend.port}`,
      '--tls-cert',
      cert,
      '--tls-key',
      key,
    ],
    user,
  );
  const httpsPort = info.https.split(':')[1]!;
  const body = await until('a response over https', async () => {
    const { stdout } = await run('curl', [
      '-s',
      '--cacert',
      cert,
      '--resolve',
      `${host}:${httpsPort}:127.0.0.1`,
      `https://${host}:${httpsPort}/hi`,
    ]).catch(() => ({ stdout: '' }));
    return stdout.startsWith('{') ? stdout : undefined;
  });
  assert.equal(
    (JSON.parse(body) as { headers: Record<string, string> }).headers['x-forwarded-proto'],
    'https',
  );
  writeFileSync(rules, JSON.stringify({ tlsCertSha256: 'ab'.repeat(32) }));
  const upd = await runVdc(['name', 'update', 'app', '--rules', rules], { env: user });
  assert.equal(upd.code, 0, upd.stderr);
  // The gateway closes the tunnel; the client's reconnection is refused and it exits.
  assert.equal(await tunnel.exited, 5, tunnel.err());
  assert.match(tunnel.err(), /TUNNEL_CERT_NOT_PINNED/);
});

test('a gateway whose tunnel key was lost re-keys with --update-registration; running tunnels follow it', async (t) => {
  if (!requireCommand(t, 'curl') || !requireCommand(t, 'openssl')) return;
  const { op, user } = await people(t, 'op', 'user');
  const tunnelPort = await freeLoopbackPort();
  type Info = { gateway: number; http: string; tunnelSpkiSha256: string; updated: boolean };
  const gw = serveGateway(t, op, tunnelPort);
  const info = await until('the gateway', () => printed<Info>(gw.out()));
  const reg = await runVdc(['name', 'register', 'app', '--gateway', 'gw.test', '--mode', 'http'], {
    env: user,
  });
  assert.equal(reg.code, 0, reg.stderr);
  const backend = await startEchoBackend(t);
  const tunnel = daemon(t, ['tunnel', '--name', 'app', '--to', `127.0.0.1:${backend.port}`], user);
  const get = async (http: string) => {
    const port = http.split(':')[1]!;
    const { stdout } = await run('curl', [
      '-s',
      '--resolve',
      `app.gw.test:${port}:127.0.0.1`,
      `http://app.gw.test:${port}/hi`,
    ]).catch(() => ({ stdout: '' }));
    return stdout.startsWith('{') ? stdout : undefined;
  };
  await until('a response through the tunnel', () => get(info.http));
  gw.child.kill('SIGTERM');
  assert.equal(await gw.exited, 0, gw.err());
  rmSync(join(op.VDC_HOME, 'gateway'), { recursive: true });
  // A new key is not taken silently: the ledger still pins the old one.
  const refused = serveGateway(t, op, tunnelPort);
  assert.equal(await refused.exited, 7, refused.err());
  assert.match(refused.err(), /GATEWAY_REGISTRATION_MISMATCH[\s\S]*--update-registration/);
  const rekeyed = serveGateway(t, op, tunnelPort, ['--update-registration']);
  const info2 = await until('the re-keyed gateway', () => printed<Info>(rekeyed.out()));
  assert.equal(info2.gateway, info.gateway);
  assert.equal(info2.updated, true);
  assert.notEqual(info2.tunnelSpkiSha256, info.tunnelSpkiSha256);
  // The same vdc tunnel process reconnects to the new key: its view learns the update.
  const body = await until(
    'a response through the re-keyed gateway',
    () => get(info2.http),
    60_000,
  );
  assert.equal((JSON.parse(body) as { url: string }).url, '/hi');
  assert.equal(tunnel.child.exitCode, null, tunnel.err());
  const shown = await runVdc(['ledger', 'entries', '--json'], { env: user });
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /"gateway\.update"/);
});
