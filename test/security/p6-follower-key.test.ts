/*
 * P6: a ledger is known by its key. A server presenting another key than the one pinned is
 * refused when pinning (LEDGER_KEY_MISMATCH), and every head it signs is refused
 * (HEAD_WRONG_LEDGER when it names its own ledger, HEAD_SIGNATURE_INVALID when it claims the
 * pinned one); the pin, the verified head and the follower's view do not move.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { toHex } from '../../src/core/hex.ts';
import { readConfig } from '../../src/core/vdc-config.ts';
import { LedgerClient } from '../../src/ledger/ledger-client.ts';
import { LedgerFollower } from '../../src/ledger/ledger-follower.ts';
import { pinLedgerKey } from '../../src/ledger/ledger-pin.ts';
import type { SignedHead } from '../../src/ledger/signed-head.ts';
import { newIdentity } from '../../src/ledger/tx-test-kit.ts';
import {
  assertUnmoved,
  followerState,
  hasCode,
  registerTwin,
  startLyingProxy,
  startTestLedger,
  tempDir,
} from '../support/ledger-fixture.ts';

type T = { after: (fn: () => unknown) => void };

/** Two real ledgers with their own keys, and a proxy (one URL) in front of the first. */
async function twoLedgers(t: T) {
  const a = await startTestLedger(t, tempDir(t));
  const b = await startTestLedger(t, tempDir(t));
  assert.notDeepEqual(a.service.publicKey, b.service.publicKey);
  const proxy = await startLyingProxy(t, a.url);
  return { a, b, proxy, keyA: toHex(a.service.publicKey), keyB: toHex(b.service.publicKey) };
}

describe('P6 follower: a server presenting another key', () => {
  test('first contact with a --ledger-key the server does not hold → LEDGER_KEY_MISMATCH, nothing pinned', async (t) => {
    const { proxy, keyB } = await twoLedgers(t);
    const home = tempDir(t, 'vdc-home-');
    await assert.rejects(pinLedgerKey(home, proxy.url, keyB), hasCode('LEDGER_KEY_MISMATCH'));
    assert.equal(readConfig(home).ledgers[proxy.url], undefined);
  });

  test('a key given later that differs from the pin → LEDGER_KEY_MISMATCH, the pin stays', async (t) => {
    const { proxy, keyA, keyB } = await twoLedgers(t);
    const home = tempDir(t, 'vdc-home-');
    const pinned = await pinLedgerKey(home, proxy.url);
    assert.equal(toHex(pinned.key), keyA);
    assert.match(pinned.notice ?? '', /trusted on first use/);
    const config = readFileSync(join(home, 'config'), 'utf8');
    await assert.rejects(pinLedgerKey(home, proxy.url, keyB), hasCode('LEDGER_KEY_MISMATCH'));
    assert.equal(readFileSync(join(home, 'config'), 'utf8'), config);
  });

  test("the server behind a pinned URL replaced by another ledger → HEAD_WRONG_LEDGER, the client's state holds", async (t) => {
    const { a, b, proxy, keyA } = await twoLedgers(t);
    const home = tempDir(t, 'vdc-home-');
    const client = await LedgerClient.connect({ url: proxy.url, home });
    await registerTwin(client, newIdentity());
    const stateFile = join(home, 'ledgers', client.follower.ledger, 'head.json');
    const before = followerState(client.follower, stateFile);
    const saved = readFileSync(stateFile, 'utf8');
    proxy.target = b.url;
    await assert.rejects(client.follower.sync(), hasCode('HEAD_WRONG_LEDGER'));
    await assertUnmoved(client.follower, 'HEAD_WRONG_LEDGER', before, stateFile);
    // A fresh connection keeps the pin and refuses too.
    await assert.rejects(
      LedgerClient.connect({ url: proxy.url, home }),
      hasCode('HEAD_WRONG_LEDGER'),
    );
    assert.equal(readConfig(home).ledgers[proxy.url]?.key, keyA);
    assert.equal(readFileSync(stateFile, 'utf8'), saved);
    assert.equal(before.digest, a.service.projection.digest());
  });

  test("another key's heads relabelled as the pinned ledger → HEAD_SIGNATURE_INVALID", async (t) => {
    const { a, b, proxy } = await twoLedgers(t);
    const follower = new LedgerFollower({ url: proxy.url, ledgerKey: a.service.publicKey });
    await follower.sync();
    const before = followerState(follower);
    proxy.target = b.url;
    proxy.rewrite = (path, body) =>
      path === '/v1/head' ? { ...(body as object), ledger: a.service.ledger } : undefined;
    await assert.rejects(follower.sync(), hasCode('HEAD_SIGNATURE_INVALID'));
    await assertUnmoved(follower, 'HEAD_SIGNATURE_INVALID', before);
    assert.equal(before.digest, a.service.projection.digest());
  });

  test('a head of the pinned ledger with one bit of its signature flipped → HEAD_SIGNATURE_INVALID', async (t) => {
    const { a, proxy } = await twoLedgers(t);
    proxy.rewrite = (path, body) => {
      if (path !== '/v1/head') return undefined;
      const head = body as unknown as SignedHead;
      const sig = Buffer.from(head.sig, 'hex');
      sig[5]! ^= 1;
      return { ...head, sig: toHex(sig) };
    };
    const follower = new LedgerFollower({ url: proxy.url, ledgerKey: a.service.publicKey });
    await assert.rejects(follower.sync(), hasCode('HEAD_SIGNATURE_INVALID'));
    await assertUnmoved(follower, 'HEAD_SIGNATURE_INVALID', followerState(follower));
    assert.equal(follower.head, undefined);
  });
});
