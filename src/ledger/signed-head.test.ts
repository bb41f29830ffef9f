import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { toHex } from '../core/hex.ts';
import { privateKeyFromSeed, rawPublicKey } from '../core/keys.ts';
import { sign, signedMessage } from '../core/signing.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import { ledgerId } from './ledger-id.ts';
import { encodeLeaf } from './log-leaf.ts';
import { hashLeaf } from './merkle-hash.ts';
import { signHead, verifyHead } from './signed-head.ts';

const key = privateKeyFromSeed('ed25519', Buffer.alloc(32, 1));
const pub = rawPublicKey(key);
const other = privateKeyFromSeed('ed25519', Buffer.alloc(32, 2));
const root = hashLeaf(Buffer.from('x'));
const head = signHead({ size: 5, root, time: 1_700_000_000_000 }, key);

describe('signed heads', () => {
  it('names the ledger by the SHA-256 of its raw public key and signs {ledger,size,root,time}', () => {
    assert.equal(head.ledger, createHash('sha256').update(pub).digest('hex'));
    assert.equal(head.ledger, ledgerId(pub));
    assert.deepEqual(Object.keys(head).sort(), ['ledger', 'root', 'sig', 'size', 'time']);
    const message = signedMessage(SIGNING_TAGS.head, {
      ledger: head.ledger,
      size: 5,
      root: toHex(root),
      time: 1_700_000_000_000,
    });
    assert.equal(
      message.toString(),
      `vdc/head/v1\u0000{"ledger":"${head.ledger}","root":"${toHex(root)}","size":5,"time":1700000000000}`,
    );
    assert.deepEqual(verifyHead(JSON.parse(JSON.stringify(head)), pub), head);
  });

  it('refuses a head from another ledger with HEAD_WRONG_LEDGER', () => {
    const foreign = signHead({ size: 5, root, time: 1 }, other);
    assert.throws(() => verifyHead(foreign, pub), { code: 'HEAD_WRONG_LEDGER' });
  });

  it('refuses a changed, re-signed or wrong-tag head with HEAD_SIGNATURE_INVALID', () => {
    const changed = [
      { ...head, size: 6 },
      { ...head, time: head.time + 1 },
      { ...head, root: toHex(hashLeaf(Buffer.from('y'))) },
    ];
    for (const h of changed)
      assert.throws(() => verifyHead(h, pub), { code: 'HEAD_SIGNATURE_INVALID' });
    const { sig: _, ...payload } = head;
    const byOther = { ...head, sig: toHex(sign(SIGNING_TAGS.head, payload, other)) };
    assert.throws(() => verifyHead(byOther, pub), { code: 'HEAD_SIGNATURE_INVALID' });
    const wrongTag = { ...head, sig: toHex(sign(SIGNING_TAGS.tx, payload, key)) };
    assert.throws(() => verifyHead(wrongTag, pub), { code: 'HEAD_SIGNATURE_INVALID' });
  });

  it('refuses malformed heads with HEAD_MALFORMED', () => {
    const bad: unknown[] = [
      null,
      [],
      { ...head, extra: 1 },
      { ...head, root: head.root.toUpperCase() },
      { ...head, size: -1 },
      { ...head, size: '5' },
      { ...head, time: 1.5 },
      { ...head, sig: head.sig.slice(2) },
      { ledger: head.ledger, size: 5, root: head.root, time: head.time },
    ];
    for (const h of bad)
      assert.throws(() => verifyHead(h, pub), { code: 'HEAD_MALFORMED' }, JSON.stringify(h));
  });
});

describe('the worked example of docs/ledger-log.md', () => {
  it('has the leaf bytes, leaf hash and signed head the doc shows', () => {
    const encoded = encodeLeaf({
      seq: 0,
      acceptedAt: 1767225600000,
      tx: { type: 'twin.create', twin: 1 },
      sig: 'ab',
    });
    assert.equal(
      encoded.bytes.toString(),
      '{"acceptedAt":1767225600000,"seq":0,"sig":"ab","tx":{"twin":1,"type":"twin.create"}}',
    );
    assert.equal(
      toHex(encoded.hash),
      '0b43b5e50bf4d80c0b65e0bef52052d32171c006fb51fc2ef751a49a30f4ff52',
    );
    const example = signHead({ size: 1, root: encoded.hash, time: 1767225600500 }, key);
    assert.deepEqual(example, {
      ledger: '34750f98bd59fcfc946da45aaabe933be154a4b5094e1c4abf42866505f3c97e',
      size: 1,
      root: '0b43b5e50bf4d80c0b65e0bef52052d32171c006fb51fc2ef751a49a30f4ff52',
      time: 1767225600500,
      sig: 'c17ff28bf7231711030c677f4dcb99e0ae5df90d02173521835a7857f7cf717810f7911815e2b9f3ef783ce95893e9513724c2a5df0771710be09c3b9a5d6c03',
    });
  });
});
