import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { requireCommand } from '../../test/support/requirements.ts';
import { VdcError } from '../core/errors.ts';
import { toHex } from '../core/hex.ts';
import { DOMAIN, startGatewayGrid } from '../gateway/gateway-test-kit.ts';
import { certSha256, makeSelfSignedCert } from '../gateway/index.ts';
import { Identity } from '../identity/index.ts';
import { openSecret, type Workload } from '../node/index.ts';
import { buildDeployment, parseDeployFile, TLS_KEY_ENTRY } from './deploy-file.ts';
import { checkGatewayCertificates, loadGatewayTls } from './deploy-tls.ts';

/*
 * A gateway workload's certificate in the deploy file (docs/node-gateway.md): read from
 * files or PEM text, checked as the gateway will check it, the key sealed to the node and
 * never quoted in a message.
 */

type T = import('node:test').TestContext;

function dirFor(t: T): string {
  const dir = mkdtempSync(join(tmpdir(), 'vdc-deploy-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let serial = 0;
function makeCert(dir: string, o: { san?: string; notBefore?: Date; notAfter?: Date } = {}) {
  const base = join(dir, `c${++serial}`);
  makeSelfSignedCert(`${base}.key`, `${base}.crt`, { cn: 'owner', days: 1, ...o });
  return {
    certFile: `${base}.crt`,
    keyFile: `${base}.key`,
    cert: readFileSync(`${base}.crt`, 'utf8'),
    key: readFileSync(`${base}.key`, 'utf8'),
    sha256: certSha256(readFileSync(`${base}.crt`)),
  };
}

function refused(code: string, pattern: RegExp, secret?: string) {
  return (err: unknown) => {
    assert.ok(err instanceof VdcError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    if (secret) assert.ok(!err.message.includes(secret.trim().split('\n')[1]!), 'key quoted');
    return true;
  };
}

const web = {
  name: 'web',
  kind: 'container',
  spec: {
    image: { url: 'https://example.org/i.tar', sha256: 'cd'.repeat(32) },
    resources: { cpu: 100, memory: 2 ** 26 },
  },
};
const gw = (tls: unknown, name = 'shop') => ({
  name: 'web-gw',
  kind: 'gateway',
  spec: { name, gateway: 1, workload: 'web', port: 8080, tls },
});
const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('a gateway workload’s certificate in the deploy file', () => {
  test('reads files relative to the deploy file, or PEM text, and seals the key to the node', (t) => {
    if (!requireCommand(t, 'openssl')) return;
    const dir = dirFor(t);
    const c = makeCert(dir, { san: `shop.${DOMAIN}` });
    writeFileSync(join(dir, 'app.json'), '');
    const fromFiles = parseDeployFile(
      bytes({ workloads: [web, gw({ cert: './c1.crt', key: 'c1.key' })] }),
      join(dir, 'app.json'),
    );
    assert.deepEqual(fromFiles.workloads[1]?.spec['tls'], { cert: c.cert, key: c.key });
    const fromText = parseDeployFile(
      bytes({ workloads: [web, gw({ cert: c.cert, key: c.key })] }),
      'f.json',
      '/nonexistent',
    );
    assert.deepEqual(fromText.workloads[1]?.spec['tls'], { cert: c.cert, key: c.key });

    const node = Identity.fromSeed(randomBytes(64));
    const other = Identity.fromSeed(randomBytes(64));
    const { unsigned, copy } = buildDeployment(fromFiles, {
      twin: 4,
      node: 9,
      nodeKey: toHex(node.encryptionPublicKey),
      version: 1,
    });
    const tls = unsigned.workloads[1]?.spec['tls'] as { cert: string; key: string };
    assert.equal(tls.cert, c.cert, 'the chain travels as it is: it is public');
    assert.ok(!JSON.stringify(unsigned).includes(c.key.split('\n')[1]!), 'no plaintext key');
    const context = { twin: 4, workload: 'web-gw', name: 'shop', use: 'gateway-tls-key' as const };
    assert.equal(openSecret(tls.key, node, context).toString(), c.key);
    assert.throws(
      () => openSecret(tls.key, other, context),
      refused('SECRET_SEALED_FOR_OTHER_NODE', /another node/),
    );
    // The owner keeps the plaintext in the contract's copy, to seal it again on a heal.
    assert.equal(
      Buffer.from(copy.secrets['web-gw']?.[TLS_KEY_ENTRY] ?? '', 'base64').toString(),
      c.key,
    );
  });

  test('refuses what the gateway would, before anything is signed, never quoting the key', (t) => {
    if (!requireCommand(t, 'openssl')) return;
    const dir = dirFor(t);
    const a = makeCert(dir, { san: `shop.${DOMAIN}` });
    const b = makeCert(dir, { san: `shop.${DOMAIN}` });
    const parse = (tls: unknown) =>
      parseDeployFile(bytes({ workloads: [web, gw(tls)] }), 'f.json', dir);
    assert.throws(
      () => parse({ cert: a.cert, key: b.key }),
      refused('DEPLOY_TLS_KEY_MISMATCH', /^f\.json: .*not the key of the leaf/, b.key),
    );
    assert.throws(
      () => parse({ cert: 'missing.crt', key: a.key }),
      refused('DEPLOY_TLS_INVALID', /missing\.crt.*cannot be read \(ENOENT\)/),
    );
    assert.throws(
      () => parse({ cert: a.key, key: a.key }),
      refused('DEPLOY_TLS_INVALID', /1\.\.8 PEM certificates/, a.key),
    );
    assert.throws(
      () => parse({ cert: `${a.cert}junk`, key: a.key }),
      refused('DEPLOY_TLS_INVALID', /nothing else/),
    );
    assert.throws(
      () => parse({ cert: a.cert, key: a.cert }),
      refused('DEPLOY_TLS_INVALID', /not a private key/),
    );
    const broken = a.cert.replace(/\n[A-Za-z0-9+/]{8}/, '\nAAAAAAAA');
    assert.throws(
      () => parse({ cert: broken, key: a.key }),
      refused('DEPLOY_TLS_INVALID', /does not parse/),
    );
    assert.throws(
      () => parse({ cert: a.cert }),
      refused('DEPLOY_TLS_INVALID', /missing field 'key'|'key'/),
    );
    assert.throws(
      () => parse({ cert: a.cert, key: a.key, pass: 'x' }),
      refused('DEPLOY_TLS_INVALID', /unknown field 'pass'/),
    );
    assert.throws(() => loadGatewayTls('x', 'tls', dir), refused('DEPLOY_TLS_INVALID', /tls/));
    // A name that is not a regular file of a sane size is refused before a byte is read.
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    assert.throws(
      () => parse({ cert: 'pipe', key: a.key }),
      refused('DEPLOY_TLS_INVALID', /not a regular file/),
    );
    assert.throws(
      () => parse({ cert: '/dev/zero', key: a.key }),
      refused('DEPLOY_TLS_INVALID', /not a regular file/),
    );
    writeFileSync(join(dir, 'huge.crt'), Buffer.alloc(4 * 2 ** 20, 0x41));
    assert.throws(
      () => parse({ cert: 'huge.crt', key: a.key }),
      refused('DEPLOY_TLS_INVALID', /larger than/),
    );
  });

  test('checks the certificate against the name on the user’s view of the ledger', async (t) => {
    if (!requireCommand(t, 'openssl')) return;
    const g = await startGatewayGrid(t);
    const dir = dirFor(t);
    const shop = makeCert(dir, { san: `shop.${DOMAIN}` });
    const renewed = makeCert(dir, { san: `shop.${DOMAIN}` });
    const elsewhere = makeCert(dir, { san: `elsewhere.${DOMAIN}` });
    const old = makeCert(dir, {
      san: `old.${DOMAIN}`,
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2020-01-02T00:00:00Z'),
    });
    await g.registerName(g.user, 'shop', 'http', { tlsCertSha256: shop.sha256 });
    await g.registerName(g.user, 'plain', 'http');
    await g.registerName(g.user, 'site', 'tls-passthrough');
    await g.registerName(g.user, 'bad', 'http', { tlsCertSha256: elsewhere.sha256 });
    await g.registerName(g.user, 'old', 'http', { tlsCertSha256: old.sha256 });
    await g.sync();
    const check = (name: string, c?: { cert: string; key: string }) => {
      const w = gw(c ? { cert: c.cert, key: c.key } : undefined, name);
      if (!c) delete (w.spec as { tls?: unknown }).tls;
      (w.spec as { gateway: number }).gateway = g.gatewayId;
      return checkGatewayCertificates(
        { workloads: [web as Workload, w as Workload] },
        { view: g.user.client.follower.view, now: Date.now() },
      );
    };
    assert.deepEqual(check('shop', shop), [
      { workload: 'web-gw', name: 'shop', sha256: shop.sha256 },
    ]);
    assert.deepEqual(check('plain'), [], 'no pin, no certificate: plain http mode');
    assert.throws(() => check('shop', renewed), refused('DEPLOY_TLS_NOT_PINNED', /pins/));
    assert.throws(() => check('shop'), refused('DEPLOY_TLS_REQUIRED', /"tls"/));
    assert.throws(() => check('plain', shop), refused('DEPLOY_TLS_NOT_PINNED', /pins no/));
    assert.throws(() => check('site', shop), refused('DEPLOY_TLS_NOT_HTTP', /tls-passthrough/));
    assert.throws(
      () => check('bad', elsewhere),
      refused('DEPLOY_TLS_WRONG_NAME', new RegExp(`bad\\.${DOMAIN.replace('.', '\\.')}`)),
    );
    assert.throws(() => check('old', old), refused('DEPLOY_TLS_EXPIRED', /2020-01-02/));
  });
});
