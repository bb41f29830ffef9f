import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { Identity } from '../identity/index.ts';
import { deploymentHash, newSalt, type UnsignedDeployment } from './deployment-document.ts';
import { MAX_OWNER_COPY_BYTES, type OwnerCopy, openForOwner, sealForOwner } from './owner-copy.ts';

const owner = Identity.fromSeed(randomBytes(64));
const stranger = Identity.fromSeed(randomBytes(64));

function code(c: string) {
  return (err: unknown) => {
    assert.ok(err instanceof VdcError, String(err));
    assert.equal(err.code, c, err.message);
    return true;
  };
}

function copy(extra: Partial<UnsignedDeployment> = {}): OwnerCopy {
  const deployment: UnsignedDeployment = {
    version: 1,
    twin: 5,
    salt: newSalt(),
    workloads: [
      {
        name: 'web',
        kind: 'container',
        spec: {
          image: { url: 'http://127.0.0.1/i.tar', sha256: 'a'.repeat(64) },
          resources: { cpu: 100, memory: 2 ** 26 },
          secrets: { TOKEN: randomBytes(80).toString('base64') },
        },
      },
    ],
    ...extra,
  };
  return {
    node: 3,
    deployment,
    secrets: { web: { TOKEN: Buffer.from('t0k3n').toString('base64') } },
  };
}

const targetOf = (c: OwnerCopy) => ({
  twin: c.deployment.twin,
  node: c.node,
  deploymentHash: deploymentHash(c.deployment),
});

describe("the owner's copy of a deployment", () => {
  test('opens with the owner’s identity to the same copy', () => {
    const c = copy();
    const sealed = sealForOwner(c, owner);
    assert.deepEqual(openForOwner(sealed, owner, targetOf(c)), c);
    assert.ok(Buffer.from(sealed, 'base64').length <= MAX_OWNER_COPY_BYTES);
  });

  test('does not open with another identity', () => {
    const c = copy();
    assert.throws(
      () => openForOwner(sealForOwner(c, owner), stranger, targetOf(c)),
      code('OWNER_COPY_OPEN_FAILED'),
    );
  });

  test('does not open for another contract (hash, node or twin)', () => {
    const c = copy();
    const sealed = sealForOwner(c, owner);
    const t = targetOf(c);
    for (const moved of [
      { ...t, deploymentHash: 'b'.repeat(64) },
      { ...t, node: 4 },
      { ...t, twin: 6 },
    ])
      assert.throws(() => openForOwner(sealed, owner, moved), code('OWNER_COPY_OPEN_FAILED'));
  });

  test('a changed byte is refused; a short or unknown-version copy is malformed', () => {
    const c = copy();
    const bytes = Buffer.from(sealForOwner(c, owner), 'base64');
    for (const at of [1, 40, bytes.length - 1]) {
      const b = Buffer.from(bytes);
      b[at] = (b[at] ?? 0) ^ 1;
      assert.throws(
        () => openForOwner(b.toString('base64'), owner, targetOf(c)),
        code('OWNER_COPY_OPEN_FAILED'),
      );
    }
    assert.throws(
      () => openForOwner(bytes.subarray(0, 20).toString('base64'), owner, targetOf(c)),
      code('OWNER_COPY_MALFORMED'),
    );
    const v2 = Buffer.from(bytes);
    v2[0] = 2;
    assert.throws(
      () => openForOwner(v2.toString('base64'), owner, targetOf(c)),
      code('OWNER_COPY_MALFORMED'),
    );
  });

  test('refuses a copy larger than a contract holds', () => {
    const big = copy();
    // random plaintext does not compress
    big.secrets['web'] = { BLOB: randomBytes(40_000).toString('base64') };
    assert.throws(() => sealForOwner(big, owner), code('OWNER_COPY_TOO_LARGE'));
  });

  test('a deployment near the document limit fits once compressed', () => {
    const env: Record<string, string> = {};
    for (let i = 0; i < 100; i++) env[`VAR_${i}`] = `value number ${i} `.repeat(30);
    const c = copy();
    (c.deployment.workloads[0]!.spec as Record<string, unknown>)['env'] = env;
    const sealed = sealForOwner(c, owner);
    assert.deepEqual(openForOwner(sealed, owner, targetOf(c)), c);
  });
});
