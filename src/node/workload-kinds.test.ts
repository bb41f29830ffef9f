import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import {
  checkWorkloadSpec,
  inDependencyOrder,
  isWorkloadKind,
  WORKLOAD_KINDS,
} from './workload-kinds.ts';

type Spec = Record<string, never>;
const valid: Record<string, Record<string, unknown>> = {
  container: {
    image: { url: 'https://images.example/busybox.tar', sha256: 'ab'.repeat(32) },
    resources: { cpu: 250, memory: 64 * 2 ** 20, pids: 64 },
    entrypoint: ['/bin/sh', '-c', 'sleep 1'],
    env: { GREETING: 'hi' },
    networks: ['backend'],
    secrets: { TOKEN: 'c2VjcmV0' },
  },
  zdb: { size: 2 ** 30, mode: 'user', network: 'backend' },
  network: { network: 'backend' },
  gateway: { name: 'shop', gateway: 1, workload: 'web', port: 8080, grant: 'cd'.repeat(64) },
};

/** Shape only: the schema does not parse certificates (the node's check 6d does). */
const PEM = '-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n';
const tls = { cert: PEM + PEM, key: 'c2VhbGVk' };

const check = (kind: string, spec: Record<string, unknown>) =>
  checkWorkloadSpec({ name: 'w', kind: kind as 'zdb', spec: spec as Spec });

describe('workload kinds', () => {
  test('the four kinds of DESIGN §7 are known, nothing else', () => {
    assert.deepEqual([...WORKLOAD_KINDS], ['container', 'zdb', 'network', 'gateway']);
    assert.equal(isWorkloadKind('vm'), false);
    assert.equal(isWorkloadKind('constructor'), false);
  });

  test('a valid spec of each kind passes', () => {
    for (const [kind, spec] of Object.entries(valid)) check(kind, spec);
    check('gateway', { ...valid['gateway'], tls });
  });

  test('refuses specs out of their schema, naming the field', () => {
    const c = valid['container']!;
    const bad: [string, Record<string, unknown>, RegExp][] = [
      ['container', { ...c, privileged: true }, /unknown field 'privileged'/],
      [
        'container',
        { ...c, image: { url: 'file:///etc/passwd', sha256: 'ab'.repeat(32) } },
        /image\.url/,
      ],
      [
        'container',
        { ...c, image: { url: 'https://u:p@x/i.tar', sha256: 'ab'.repeat(32) } },
        /credentials/,
      ],
      ['container', { ...c, image: { url: 'https://x/i.tar', sha256: 'ab' } }, /sha256/],
      ['container', { ...c, resources: { cpu: 0, memory: 2 ** 30 } }, /cpu/],
      ['container', { ...c, resources: { cpu: 1, memory: 1024 } }, /memory/],
      ['container', { ...c, env: { 'A=B': 'x' } }, /env/],
      ['container', { ...c, networks: ['a', 'a'] }, /twice/],
      ['container', { ...c, secrets: { T: 'not base64!' } }, /base64/],
      ['zdb', { ...valid['zdb'], mode: 'direct' }, /mode/],
      ['network', { network: 'Bad_Name' }, /network/],
      ['gateway', { ...valid['gateway'], port: 0 }, /port/],
      ['gateway', { ...valid['gateway'], grant: 'zz' }, /grant/],
      ['gateway', { ...valid['gateway'], tls: { cert: PEM } }, /missing field 'key'|key/],
      ['gateway', { ...valid['gateway'], tls: { ...tls, chain: PEM } }, /unknown field 'chain'/],
      ['gateway', { ...valid['gateway'], tls: { ...tls, cert: 'nope' } }, /tls\.cert.*PEM/],
      ['gateway', { ...valid['gateway'], tls: { ...tls, cert: `${PEM}junk` } }, /tls\.cert.*PEM/],
      ['gateway', { ...valid['gateway'], tls: { ...tls, cert: PEM.repeat(9) } }, /1\.\.8/],
      ['gateway', { ...valid['gateway'], tls: { ...tls, cert: PEM.repeat(2000) } }, /tls\.cert/],
      [
        'gateway',
        { ...valid['gateway'], tls: { ...tls, key: '-----BEGIN PRIVATE KEY-----' } },
        /tls\.key.*sealed/,
      ],
    ];
    for (const [kind, spec, message] of bad)
      assert.throws(
        () => check(kind, spec),
        (err) =>
          err instanceof VdcError &&
          err.code === 'DEPLOYMENT_WORKLOAD_INVALID' &&
          message.test(err.message),
        `${kind} ${JSON.stringify(spec)}`,
      );
  });
});

describe('dependency order', () => {
  test('networks first, then zdb, containers, gateways; document order within a kind', () => {
    const w = (name: string, kind: string) => ({ name, kind });
    const order = inDependencyOrder([
      w('gw', 'gateway'),
      w('web', 'container'),
      w('net', 'network'),
      w('db', 'zdb'),
      w('api', 'container'),
    ]).map((x) => x.name);
    assert.deepEqual(order, ['net', 'db', 'web', 'api', 'gw']);
  });
});
