import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { toHex } from '../core/hex.ts';
import { Identity } from '../identity/index.ts';
import {
  checkSealedFor,
  MAX_SECRET_BYTES,
  openSecret,
  openWorkloadSecrets,
  sealSecret,
  sealWorkloadSecrets,
  tlsKeyContext,
} from './secret-seal.ts';
import { checkWorkloadSpec } from './workload-kinds.ts';

const node = Identity.fromSeed(randomBytes(64));
const other = Identity.fromSeed(randomBytes(64));
const nodeKey = toHex(node.encryptionPublicKey);
const ctx = { twin: 7, workload: 'web', name: 'DB_PASSWORD' };

function code(c: string) {
  return (err: unknown) => {
    assert.ok(err instanceof VdcError, String(err));
    assert.equal(err.code, c, err.message);
    return true;
  };
}

function flip(sealed: string, at: number): string {
  const b = Buffer.from(sealed, 'base64');
  b[at] = (b[at] ?? 0) ^ 0x01;
  return b.toString('base64');
}

describe('secret sealed to a node', () => {
  test('opens on the node to the plaintext, for the use it was sealed for', () => {
    const sealed = sealSecret('hunter2 ✓', nodeKey, ctx);
    assert.equal(openSecret(sealed, node, ctx).toString('utf8'), 'hunter2 ✓');
    const bin = randomBytes(300);
    assert.deepEqual(openSecret(sealSecret(bin, node.encryptionPublicKey, ctx), node, ctx), bin);
    assert.equal(openSecret(sealSecret('', nodeKey, ctx), node, ctx).length, 0);
  });

  test('two seals of one value differ (a fresh ephemeral key each)', () => {
    assert.notEqual(sealSecret('x', nodeKey, ctx), sealSecret('x', nodeKey, ctx));
  });

  test('fits the container schema: base64 within its bounds, even at the largest size', () => {
    const sealed = sealSecret(randomBytes(MAX_SECRET_BYTES), nodeKey, ctx);
    checkWorkloadSpec({
      name: 'web',
      kind: 'container',
      spec: {
        image: { url: 'http://127.0.0.1/i.tar', sha256: '0'.repeat(64) },
        resources: { cpu: 100, memory: 2 ** 26 },
        secrets: { DB_PASSWORD: sealed },
      },
    });
  });

  test('refuses a secret larger than the limit', () => {
    assert.throws(
      () => sealSecret(Buffer.alloc(MAX_SECRET_BYTES + 1), nodeKey, ctx),
      code('SECRET_TOO_LARGE'),
    );
  });

  test('refuses a node key that is not an X25519 key', () => {
    assert.throws(() => sealSecret('x', 'zz', ctx), code('KEY_INVALID'));
    // a low-order point gives the all-zero shared secret
    assert.throws(() => sealSecret('x', Buffer.alloc(32), ctx), code('KEY_INVALID'));
  });

  test('does not open on another node', () => {
    const sealed = sealSecret('s', nodeKey, ctx);
    assert.throws(() => openSecret(sealed, other, ctx), code('SECRET_SEALED_FOR_OTHER_NODE'));
  });

  test('cannot be moved to another secret name, workload or twin', () => {
    const sealed = sealSecret('s', nodeKey, ctx);
    for (const moved of [
      { ...ctx, name: 'API_KEY' },
      { ...ctx, workload: 'db' },
      { ...ctx, twin: 8 },
    ])
      assert.throws(() => openSecret(sealed, node, moved), code('SECRET_SEALED_FOR_OTHER_USE'));
  });

  test('a gateway TLS key opens only as that workload’s key for that name, never as a secret', () => {
    const key = tlsKeyContext(7, 'web-gw', 'shop');
    const sealed = sealSecret('-----BEGIN PRIVATE KEY-----', nodeKey, key);
    assert.equal(openSecret(sealed, node, key).toString(), '-----BEGIN PRIVATE KEY-----');
    assert.throws(() => openSecret(sealed, other, key), code('SECRET_SEALED_FOR_OTHER_NODE'));
    for (const moved of [
      { ...key, name: 'shop-2' },
      { ...key, workload: 'other-gw' },
      { ...key, twin: 8 },
      { ...key, use: 'container-secret' as const },
      { twin: 7, workload: 'web-gw', name: 'shop' },
    ])
      assert.throws(() => openSecret(sealed, node, moved), code('SECRET_SEALED_FOR_OTHER_USE'));
    // and a container's secret is no TLS key, even under the same names
    const secret = sealSecret('s', nodeKey, { twin: 7, workload: 'web', name: 'shop' });
    assert.throws(
      () => openSecret(secret, node, tlsKeyContext(7, 'web', 'shop')),
      code('SECRET_SEALED_FOR_OTHER_USE'),
    );
    // the default use is the first version's context: explicit or left out, the same value
    const plain = sealSecret('s', nodeKey, ctx);
    assert.equal(openSecret(plain, node, { ...ctx, use: 'container-secret' }).toString(), 's');
  });

  test('the header alone tells another node or use apart, with the node’s public key only', () => {
    const key = tlsKeyContext(7, 'web-gw', 'shop');
    const sealed = sealSecret('k', nodeKey, key);
    assert.equal(checkSealedFor(sealed, nodeKey, key).length, Buffer.from(sealed, 'base64').length);
    const otherKey = toHex(other.encryptionPublicKey);
    assert.throws(
      () => checkSealedFor(sealed, otherKey, key),
      code('SECRET_SEALED_FOR_OTHER_NODE'),
    );
    assert.throws(
      () => checkSealedFor(sealed, nodeKey, { ...key, name: 'other' }),
      code('SECRET_SEALED_FOR_OTHER_USE'),
    );
    assert.throws(() => checkSealedFor('AAAA', nodeKey, key), code('SECRET_SEAL_MALFORMED'));
    // an altered ciphertext passes the header check: only opening refuses it
    assert.ok(checkSealedFor(flip(sealed, 60), nodeKey, key));
    assert.throws(() => openSecret(flip(sealed, 60), node, key), code('SECRET_SEAL_TAMPERED'));
  });

  test('a changed byte anywhere in the ciphertext, tag or ephemeral key is refused', () => {
    const sealed = sealSecret('secret value', nodeKey, ctx);
    const length = Buffer.from(sealed, 'base64').length;
    for (const at of [21, 40, 53, 60, length - 1])
      assert.throws(() => openSecret(flip(sealed, at), node, ctx), code('SECRET_SEAL_TAMPERED'));
  });

  test('a moved value whose ids were rewritten still does not open', () => {
    // An attacker may rewrite the 8-byte context id to the target's; the AEAD still refuses.
    const sealed = Buffer.from(sealSecret('s', nodeKey, ctx), 'base64');
    const target = { ...ctx, name: 'API_KEY' };
    const decoy = Buffer.from(sealSecret('t', nodeKey, target), 'base64');
    decoy.copy(sealed, 9, 9, 17);
    assert.throws(
      () => openSecret(sealed.toString('base64'), node, target),
      code('SECRET_SEAL_TAMPERED'),
    );
  });

  test('truncated or extended values are refused as malformed', () => {
    const sealed = Buffer.from(sealSecret('secret value', nodeKey, ctx), 'base64');
    for (const bad of [
      sealed.subarray(0, sealed.length - 1),
      sealed.subarray(0, 30),
      Buffer.concat([sealed, Buffer.from([0])]),
    ])
      assert.throws(
        () => openSecret(bad.toString('base64'), node, ctx),
        code('SECRET_SEAL_MALFORMED'),
      );
    assert.throws(() => openSecret('not base64!', node, ctx), code('SECRET_SEAL_MALFORMED'));
  });

  test('an unknown format version is named', () => {
    const sealed = Buffer.from(sealSecret('s', nodeKey, ctx), 'base64');
    sealed[0] = 2;
    assert.throws(
      () => openSecret(sealed.toString('base64'), node, ctx),
      code('SECRET_SEAL_VERSION_UNKNOWN'),
    );
  });

  test('a workload’s secrets seal and open as a map', () => {
    const owner = { twin: 3, workload: 'api' };
    const sealed = sealWorkloadSecrets({ A: 'one', B: Buffer.from([0, 1, 2]) }, nodeKey, owner);
    const opened = openWorkloadSecrets(sealed, node, owner);
    assert.equal(opened['A']?.toString(), 'one');
    assert.deepEqual(opened['B'], Buffer.from([0, 1, 2]));
    // swapping two values between names is refused
    const swapped = { A: sealed['B']!, B: sealed['A']! };
    assert.throws(
      () => openWorkloadSecrets(swapped, node, owner),
      code('SECRET_SEALED_FOR_OTHER_USE'),
    );
  });
});
