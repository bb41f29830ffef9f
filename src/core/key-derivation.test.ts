import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Identity } from '../identity/identity.ts';
import { mnemonicToSeed } from '../identity/mnemonic.ts';
import { VdcError } from './errors.ts';
import { deriveKey, type KeyLabel, zdbPasswordLabel } from './key-derivation.ts';

const code = (c: string) => (err: unknown) => err instanceof VdcError && err.code === c;

/** The vector blocks of docs/identity.md, so the document and the code cannot drift apart. */
function documentedVectors(): Map<string, string>[] {
  const doc = readFileSync(new URL('../../docs/identity.md', import.meta.url), 'utf8');
  return [...doc.matchAll(/```vectors\n([\s\S]*?)```/g)].map(
    (m) =>
      new Map(
        (m[1] ?? '')
          .trim()
          .split('\n')
          .map((line) => line.split(' = ') as [string, string]),
      ),
  );
}

/** RFC 5869 written out with HMAC, independent of OpenSSL's HKDF. */
function referenceHkdf(ikm: Buffer, info: string): Buffer {
  const prk = createHmac('sha256', Buffer.alloc(32)).update(ikm).digest();
  return createHmac('sha256', prk)
    .update(Buffer.concat([Buffer.from(info), Buffer.from([1])]))
    .digest();
}

describe('key derivation', () => {
  const blocks = documentedVectors();

  test('docs/identity.md holds vectors for two mnemonics', () => {
    assert.equal(blocks.length, 2);
  });

  test('every documented vector matches the code', () => {
    for (const vectors of blocks) {
      const seed = mnemonicToSeed(vectors.get('mnemonic') ?? '');
      assert.equal(seed.toString('hex'), vectors.get('seed'));
      let labels = 0;
      for (const [label, hex] of vectors) {
        if (!label.startsWith('vdc/')) continue;
        labels++;
        assert.equal(deriveKey(seed, label as KeyLabel).toString('hex'), hex, label);
        assert.equal(referenceHkdf(seed, label).toString('hex'), hex, `${label} (reference HKDF)`);
      }
      assert.equal(labels, 8);
      const identity = Identity.fromSeed(seed);
      assert.equal(identity.signingPublicKey.toString('hex'), vectors.get('ed25519 public'));
      assert.equal(identity.encryptionPublicKey.toString('hex'), vectors.get('x25519 public'));
      assert.equal(
        identity.sign('vdc/login/v1', { hello: 'world' }).toString('hex'),
        vectors.get('sig'),
      );
    }
  });

  test('the BIP-39 seed of the all-zero mnemonic is the published one', () => {
    // BIP-39 reference vector for 256 bits of zero entropy, empty passphrase.
    assert.equal(
      mnemonicToSeed(`${'abandon '.repeat(23)}art`)
        .toString('hex')
        .slice(0, 16),
      '408b285c12383600',
    );
  });

  test('one label, one key: every label gives a different key', () => {
    const seed = mnemonicToSeed(`${'zoo '.repeat(23)}vote`);
    const keys = new Set(
      [
        'vdc/ed25519/0',
        'vdc/x25519/0',
        'vdc/zstor-data/0',
        'vdc/zstor-meta/0',
        'vdc/secrets/0',
        'vdc/s3/0',
        zdbPasswordLabel(1),
        zdbPasswordLabel(2),
      ].map((l) => deriveKey(seed, l as KeyLabel).toString('hex')),
    );
    assert.equal(keys.size, 8);
  });

  test('refuses labels that are not VDC key labels, and bad seeds', () => {
    const seed = Buffer.alloc(64);
    for (const label of [
      'vdc/ed25519/1x',
      'vdc/zdb-password/01',
      'vdc/zdb-password/-1',
      'other',
      'vdc/zdb-password/',
    ]) {
      assert.throws(() => deriveKey(seed, label as KeyLabel), code('KEY_INVALID'), label);
    }
    assert.throws(() => deriveKey(Buffer.alloc(32), 'vdc/s3/0'), code('KEY_INVALID'));
    assert.throws(() => zdbPasswordLabel(-1), code('INPUT_INVALID'));
  });
});
