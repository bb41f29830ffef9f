import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { canonicalBytes } from '../core/canonical-json.ts';
import { VdcError } from '../core/errors.ts';
import { verify } from '../core/signing.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import { Identity } from '../identity/index.ts';
import {
  deploymentHash,
  newSalt,
  parseDeployment,
  signDeployment,
  signedPayload,
  type UnsignedDeployment,
} from './deployment-document.ts';

const owner = Identity.fromSeed(randomBytes(64));
const target = { ledger: 'aa'.repeat(32), node: 3, contract: 12 };
const unsigned = (): UnsignedDeployment => ({
  version: 1,
  twin: 7,
  salt: newSalt(),
  workloads: [{ name: 'web', kind: 'container', spec: { any: 'thing' } }],
});

const code = (c: string) => (err: unknown) => err instanceof VdcError && err.code === c;

describe('deployment document', () => {
  test('the hash is SHA-256 of the canonical document without its signature', () => {
    const doc = unsigned();
    const signed = signDeployment(owner, doc, target);
    const expected = createHash('sha256').update(canonicalBytes(doc)).digest('hex');
    assert.equal(deploymentHash(doc), expected);
    assert.equal(deploymentHash(signed), expected);
  });

  test('the salt makes equal workloads hash differently', () => {
    const a = unsigned();
    assert.notEqual(deploymentHash(a), deploymentHash({ ...a, salt: newSalt() }));
  });

  test('the signature covers the hash, ledger, node and contract under vdc/deployment/v1', () => {
    const doc = signDeployment(owner, unsigned(), target);
    const payload = signedPayload(deploymentHash(doc), doc.signature);
    const sig = Buffer.from(doc.signature.sig, 'hex');
    assert.equal(verify(SIGNING_TAGS.deployment, payload, sig, owner.signingPublicKey), true);
    assert.equal(verify(SIGNING_TAGS.tx, payload, sig, owner.signingPublicKey), false);
    assert.equal(
      verify(SIGNING_TAGS.deployment, { ...payload, node: 4 }, sig, owner.signingPublicKey),
      false,
    );
  });

  test('parsing refuses unknown fields, bad hex, bad names and too many workloads', () => {
    const doc = signDeployment(owner, unsigned(), target);
    assert.deepEqual(parseDeployment(JSON.parse(JSON.stringify(doc))), doc);
    const bad: unknown[] = [
      { ...doc, extra: 1 },
      { ...doc, salt: doc.salt.toUpperCase() },
      { ...doc, salt: 'ab' },
      { ...doc, version: 1.5 },
      { ...doc, twin: 0 },
      { ...doc, workloads: [{ name: 'Web', kind: 'container', spec: {} }] },
      { ...doc, workloads: [{ name: 'web', kind: 'container', spec: [] }] },
      { ...doc, workloads: [{ name: 'web', kind: 'container', spec: {}, run: 'id' }] },
      {
        ...doc,
        workloads: Array.from({ length: 65 }, (_, i) => ({ name: `w${i}`, kind: 'zdb', spec: {} })),
      },
      { ...doc, signature: { ...doc.signature, node: '3' } },
      { ...doc, signature: { ...doc.signature, extra: true } },
    ];
    for (const value of bad)
      assert.throws(() => parseDeployment(value), code('DEPLOYMENT_MALFORMED'));
  });
});
