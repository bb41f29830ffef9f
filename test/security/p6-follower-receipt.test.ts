/*
 * P6: the answer to a submission is believed only with proof. A server (or anything on the
 * path) that answers with a head that cannot include the leaf, a leaf other than the one
 * submitted, or a leaf or proof that does not hash into the answered head, is refused by the
 * client; its follower keeps the head and view it had.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JsonValue } from '../../src/core/canonical-json.ts';
import type { ErrorCode } from '../../src/core/error-codes.ts';
import { LedgerClient } from '../../src/ledger/ledger-client.ts';
import type { Leaf } from '../../src/ledger/log-leaf.ts';
import type { SignedHead } from '../../src/ledger/signed-head.ts';
import { newIdentity } from '../../src/ledger/tx-test-kit.ts';
import {
  type AnswerRewrite,
  hasCode,
  registerTwin,
  startLyingProxy,
  startTestLedger,
  tempDir,
} from '../support/ledger-fixture.ts';

interface Answer {
  leaf: Leaf & { tx: { body: Record<string, unknown> } };
  created: Record<string, number>;
  head: SignedHead;
}

const onSubmit =
  (change: (answer: Answer) => void): AnswerRewrite =>
  (path, body) => {
    if (path !== '/v1/submit' || 'error' in (body as object)) return undefined;
    change(body as unknown as Answer);
    return body as JsonValue;
  };

const attacks: [string, AnswerRewrite, ErrorCode][] = [
  [
    'a head older than the leaf (it cannot include it)',
    onSubmit((a) => {
      a.head = previous!;
    }),
    'LEDGER_STATE_MISMATCH',
  ],
  [
    'a leaf with another transaction than the one submitted',
    onSubmit((a) => {
      a.leaf.tx.body['name'] = 'other';
    }),
    'LEDGER_STATE_MISMATCH',
  ],
  [
    'a leaf with another acceptedAt (not the leaf the head includes)',
    onSubmit((a) => {
      a.leaf.acceptedAt += 1;
    }),
    'PROOF_INCLUSION_INVALID',
  ],
  [
    'a leaf at another position of the log',
    onSubmit((a) => {
      a.leaf.seq -= 1;
    }),
    'PROOF_INCLUSION_INVALID',
  ],
  [
    'an inclusion proof altered in transit',
    (path, body) => {
      if (path !== '/v1/proofs/inclusion') return undefined;
      const proof = body as { path: string[] };
      proof.path[0] = '00'.repeat(32);
      return proof;
    },
    'PROOF_INCLUSION_INVALID',
  ],
  [
    'a head whose signature does not verify',
    onSubmit((a) => {
      a.head = { ...a.head, root: 'cd'.repeat(32) };
    }),
    'HEAD_SIGNATURE_INVALID',
  ],
];

/** The head the client saw before the attacked submission (the proxy serves it back). */
let previous: SignedHead | undefined;

describe('P6 client: a submission answer that does not prove the leaf', () => {
  for (const [name, rewrite, code] of attacks) {
    test(`${name} → ${code}`, async (t) => {
      const ledger = await startTestLedger(t, tempDir(t));
      const proxy = await startLyingProxy(t, ledger.url);
      const client = await LedgerClient.connect({ url: proxy.url, home: tempDir(t, 'vdc-home-') });
      const me = newIdentity();
      await registerTwin(client, me);
      await client.submit(me, 'farm.create', { name: 'first' });
      previous = await client.follower.sync();
      const digest = client.follower.view.digest();
      proxy.rewrite = rewrite;
      await assert.rejects(client.submit(me, 'farm.create', { name: 'second' }), hasCode(code));
      assert.deepEqual(
        client.follower.head,
        previous,
        'the follower did not move to the answered head',
      );
      assert.equal(client.follower.view.digest(), digest);
      assert.equal(client.follower.view.farmsOf(1).length, 1);
    });
  }

  test("forged ids in the answer's `created` → the receipt carries the ids the client's own rules computed", async (t) => {
    const ledger = await startTestLedger(t, tempDir(t));
    const proxy = await startLyingProxy(t, ledger.url);
    const client = await LedgerClient.connect({ url: proxy.url, home: tempDir(t, 'vdc-home-') });
    const me = newIdentity();
    await registerTwin(client, me);
    await client.submit(me, 'farm.create', { name: 'first' });
    proxy.rewrite = onSubmit((a) => {
      a.created = { farms: 1 };
    });
    const receipt = await client.submit(me, 'farm.create', { name: 'second' });
    assert.deepEqual(receipt.created, { farms: 2 }, "not the server's word");
    assert.equal(client.follower.view.farm(2)?.name, 'second');
    assert.equal(client.follower.view.digest(), ledger.service.projection.digest());
  });

  test('control: the same client through the honest proxy gets a proven receipt', async (t) => {
    const ledger = await startTestLedger(t, tempDir(t));
    const proxy = await startLyingProxy(t, ledger.url);
    const client = await LedgerClient.connect({ url: proxy.url, home: tempDir(t, 'vdc-home-') });
    const me = newIdentity();
    await registerTwin(client, me);
    const receipt = await client.submit(me, 'farm.create', { name: 'first' });
    assert.equal(receipt.leaf.seq, 1);
    assert.equal(client.follower.head?.size, 2);
    assert.equal(client.follower.view.digest(), ledger.service.projection.digest());
  });
});
