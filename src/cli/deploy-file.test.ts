import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { toHex } from '../core/hex.ts';
import { Identity } from '../identity/index.ts';
import { deploymentHash, MAX_SECRET_BYTES, openSecret } from '../node/index.ts';
import { buildDeployment, contractNetworks, parseDeployFile } from './deploy-file.ts';

const node = Identity.fromSeed(randomBytes(64));
const nodeKey = toHex(node.encryptionPublicKey);

function container(name: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    kind: 'container',
    spec: {
      image: { url: 'https://example.org/i.tar', sha256: 'cd'.repeat(32) },
      resources: { cpu: 100, memory: 2 ** 26 },
      ...extra,
    },
  };
}

const bytes = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

function refused(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof VdcError, String(err));
    assert.equal(err.code, 'DEPLOY_FILE_INVALID', err.message);
    assert.match(err.message, /^f\.json: /);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('deploy file', () => {
  test('reads workloads with plaintext secrets', () => {
    const file = parseDeployFile(
      bytes({ workloads: [container('web', { secrets: { TOKEN: 'plain text, not base64!' } })] }),
      'f.json',
    );
    assert.equal(file.workloads[0]?.name, 'web');
  });

  test('refuses what is not the format, naming file and field', () => {
    const cases: [unknown, RegExp][] = [
      ['{', /malformed JSON/],
      ['{"workloads":[],"workloads":[]}', /appears twice/],
      [[], /'file' must be an object/],
      [{ workloads: [] }, /1\.\.64 workloads/],
      [{ workloads: [container('a')], extra: 1 }, /unknown field 'extra'/],
      [
        { workloads: [{ ...container('a'), after: [] }] },
        /workloads\[0\]' has an unknown field 'after'/,
      ],
      [{ workloads: [container('Bad')] }, /workloads\[0\]\.name/],
      [{ workloads: [container('a'), container('a')] }, /named twice/],
      [{ workloads: [{ name: 'a', kind: 'vm', spec: {} }] }, /"vm"; the kinds are container/],
      [{ workloads: [container('a', { cpu: 1 })] }, /unknown field 'cpu'/],
      [
        { workloads: [container('a', { secrets: { TOKEN: 5 } })] },
        /secrets\.TOKEN' must be a string/,
      ],
      [
        { workloads: [container('a', { secrets: { 'no-dash': 'x' } })] },
        /secrets' has a key "no-dash"/,
      ],
      [
        { workloads: [container('a', { secrets: { BIG: 'x'.repeat(MAX_SECRET_BYTES + 1) } })] },
        /at most 32768/,
      ],
      [
        {
          workloads: [
            { name: 'z', kind: 'zdb', spec: { size: 1, mode: 'user', network: 'n', secrets: {} } },
          ],
        },
        /unknown field 'secrets'/,
      ],
    ];
    for (const [content, pattern] of cases)
      assert.throws(() => parseDeployFile(bytes(content), 'f.json'), refused(pattern));
  });

  test('the contract names every network the workloads join, once', () => {
    const file = parseDeployFile(
      bytes({
        workloads: [
          container('web', { networks: ['front', 'back'] }),
          { name: 'db', kind: 'zdb', spec: { size: 1024, mode: 'user', network: 'back' } },
          { name: 'net', kind: 'network', spec: { network: 'admin' } },
        ],
      }),
      'f.json',
    );
    assert.deepEqual(contractNetworks(file.workloads), ['admin', 'back', 'front']);
    const many = Array.from({ length: 9 }, (_, i) => ({
      name: `n${i}`,
      kind: 'network',
      spec: { network: `net${i}` },
    }));
    assert.throws(
      () => parseDeployFile(bytes({ workloads: many }), 'f.json'),
      refused(/9 networks/),
    );
  });

  test('builds the node document with secrets sealed to the node, and the owner copy', () => {
    const file = parseDeployFile(
      bytes({ workloads: [container('web', { secrets: { TOKEN: 'tok' } }), container('plain')] }),
      'f.json',
    );
    const { unsigned, copy } = buildDeployment(file, { twin: 9, node: 4, nodeKey, version: 1 });
    assert.equal(unsigned.twin, 9);
    assert.equal(unsigned.version, 1);
    const sealed = (unsigned.workloads[0]!.spec['secrets'] as Record<string, string>)['TOKEN']!;
    assert.notEqual(sealed, 'tok');
    assert.equal(
      openSecret(sealed, node, { twin: 9, workload: 'web', name: 'TOKEN' }).toString(),
      'tok',
    );
    assert.equal(unsigned.workloads[1]?.spec['secrets'], undefined);
    assert.deepEqual(copy.secrets, { web: { TOKEN: Buffer.from('tok').toString('base64') } });
    assert.equal(copy.node, 4);
    assert.equal(deploymentHash(copy.deployment), deploymentHash(unsigned));
    // the file's own workloads keep their plaintext (nothing sealed in place)
    assert.equal((file.workloads[0]!.spec['secrets'] as Record<string, string>)['TOKEN'], 'tok');
    // two builds never hash alike (fresh salt, fresh seals)
    const again = buildDeployment(file, { twin: 9, node: 4, nodeKey, version: 1 });
    assert.notEqual(deploymentHash(again.unsigned), deploymentHash(unsigned));
  });

  test('a document that outgrows the node limit once sealed is refused before any contract', () => {
    const secrets: Record<string, string> = {};
    for (let i = 0; i < 3; i++) secrets[`S${i}`] = 'x'.repeat(MAX_SECRET_BYTES);
    const file = parseDeployFile(bytes({ workloads: [container('web', { secrets })] }), 'f.json');
    assert.throws(
      () => buildDeployment(file, { twin: 9, node: 4, nodeKey, version: 1 }),
      (err: unknown) => {
        assert.ok(err instanceof VdcError);
        assert.equal(err.code, 'DEPLOY_FILE_INVALID');
        assert.match(err.message, /the sealed deployment: .*limit is 65536/);
        return true;
      },
    );
  });

  test('a gateway workload may leave out its grant, which stays out until the CLI signs it', () => {
    const gw = (spec: Record<string, unknown>) => ({ name: 'gw', kind: 'gateway', spec });
    const base = { name: 'site', gateway: 1, workload: 'web', port: 8080 };
    const file = parseDeployFile(bytes({ workloads: [container('web'), gw(base)] }), 'f.json');
    assert.equal(file.workloads[1]?.spec['grant'], undefined);
    const explicit = parseDeployFile(
      bytes({ workloads: [container('web'), gw({ ...base, grant: 'ab'.repeat(64) })] }),
      'f.json',
    );
    assert.equal(explicit.workloads[1]?.spec['grant'], 'ab'.repeat(64));
    assert.throws(
      () =>
        parseDeployFile(
          bytes({ workloads: [container('web'), gw({ ...base, grant: 'xyz' })] }),
          'f.json',
        ),
      refused(/grant/),
    );
    assert.throws(
      () => parseDeployFile(bytes({ workloads: [gw({ ...base, port: 0 })] }), 'f.json'),
      refused(/port/),
    );
  });
});
