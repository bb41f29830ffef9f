import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { VdcError } from './errors.ts';
import { privateKeyFromSeed, rawPublicKey } from './keys.ts';
import { assertSignature, sign, signedMessage, verify } from './signing.ts';
import { assertUserTag, SIGNING_TAGS } from './signing-tags.ts';

const code = (c: string) => (err: unknown) => err instanceof VdcError && err.code === c;
const key = privateKeyFromSeed('ed25519', randomBytes(32));
const pub = rawPublicKey(key);
const payload = { twin: 7, nonce: 1, body: { name: 'web' } };

describe('tagged signatures', () => {
  test('signs tag || 0x00 || canonical(payload)', () => {
    assert.deepEqual(signedMessage('a/b', { b: 1, a: 2 }), Buffer.from('a/b\u0000{"a":2,"b":1}'));
  });

  test('a signature verifies for its tag, payload and key', () => {
    const sig = sign(SIGNING_TAGS.tx, payload, key);
    assert.equal(sig.length, 64);
    assert.equal(verify(SIGNING_TAGS.tx, payload, sig, pub), true);
    // Key order does not matter: the canonical form is signed.
    assert.equal(
      verify(SIGNING_TAGS.tx, { body: { name: 'web' }, nonce: 1, twin: 7 }, sig, pub),
      true,
    );
  });

  test('a signature made under one tag never verifies under another', () => {
    const tags = Object.values(SIGNING_TAGS);
    for (const signedTag of tags) {
      const sig = sign(signedTag, payload, key);
      for (const other of tags)
        assert.equal(
          verify(other, payload, sig, pub),
          other === signedTag,
          `${signedTag} vs ${other}`,
        );
    }
  });

  test('does not verify for other bytes or another key', () => {
    const sig = sign(SIGNING_TAGS.login, payload, key);
    assert.equal(verify(SIGNING_TAGS.login, { ...payload, nonce: 2 }, sig, pub), false);
    const other = rawPublicKey(privateKeyFromSeed('ed25519', randomBytes(32)));
    assert.equal(verify(SIGNING_TAGS.login, payload, sig, other), false);
    assert.throws(
      () => assertSignature(SIGNING_TAGS.login, payload, sig, other),
      code('SIGNATURE_INVALID'),
    );
  });

  test('refuses signatures and keys of the wrong length', () => {
    const sig = sign(SIGNING_TAGS.tx, payload, key);
    assert.throws(
      () => verify(SIGNING_TAGS.tx, payload, sig.subarray(0, 63), pub),
      code('SIGNATURE_MALFORMED'),
    );
    assert.throws(
      () => verify(SIGNING_TAGS.tx, payload, Buffer.concat([sig, Buffer.from([0])]), pub),
      code('SIGNATURE_MALFORMED'),
    );
    assert.throws(
      () => verify(SIGNING_TAGS.tx, payload, sig, pub.subarray(0, 31)),
      code('KEY_INVALID'),
    );
  });

  test('refuses tags that could blur the tag/payload boundary', () => {
    for (const tag of ['', 'a\u0000b', 'with space', 'é', 'x'.repeat(129)]) {
      assert.throws(() => sign(tag, payload, key), code('TAG_INVALID'), JSON.stringify(tag));
    }
  });

  test('every vdc/ tag is reserved for VDC itself', () => {
    for (const tag of [...Object.values(SIGNING_TAGS), 'vdc/future/v9'])
      assert.throws(() => assertUserTag(tag), code('TAG_RESERVED'));
    assert.doesNotThrow(() => assertUserTag('myapp/release/v1'));
  });
});
