/*
 * P6: the /v1/state answers are the server's word, for people. A component that makes a
 * security decision compares them with its own verified projection (crossCheck) and
 * believes the log: a server that lies about a twin's key, a farm's owner or what a key
 * acts for is refused with LEDGER_STATE_MISMATCH, and the follower's own view keeps the
 * truth (its digest does not move).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toHex } from '../../src/core/hex.ts';
import { httpJson } from '../../src/core/http-client.ts';
import { LedgerFollower } from '../../src/ledger/ledger-follower.ts';
import { newIdentity } from '../../src/ledger/tx-test-kit.ts';
import {
  hasCode,
  newUser,
  registerTwin,
  startLyingProxy,
  startTestLedger,
  tempDir,
} from '../support/ledger-fixture.ts';

/** A "not found" answer is the server saying there is no such record: null. */
async function hidden(url: string): Promise<unknown> {
  await assert.rejects(httpJson(url), hasCode('STATE_NOT_FOUND'));
  return null;
}

async function setup(t: { after: (fn: () => unknown) => void }) {
  const ledger = await startTestLedger(t, tempDir(t));
  const user = await newUser(t, ledger.url);
  const twin = await registerTwin(user.client, user.identity);
  await user.client.submit(user.identity, 'farm.create', { name: 'home' });
  const proxy = await startLyingProxy(t, ledger.url);
  const follower = new LedgerFollower({ url: proxy.url, ledgerKey: ledger.service.publicKey });
  await follower.sync();
  return { ledger, proxy, follower, twin, key: toHex(user.identity.signingPublicKey) };
}

describe('P6 follower: a state answer that contradicts the log', () => {
  test('control: honest state answers pass the cross-check', async (t) => {
    const { proxy, follower, twin, key } = await setup(t);
    follower.crossCheck(
      'twin',
      await httpJson(`${proxy.url}/v1/state/twins/${twin}`),
      follower.view.twin(twin),
    );
    follower.crossCheck(
      'farm 1',
      await httpJson(`${proxy.url}/v1/state/farms/1`),
      follower.view.farm(1),
    );
    follower.crossCheck(
      'key',
      await httpJson(`${proxy.url}/v1/state/keys/${key}`),
      follower.view.twinByKey(key),
    );
  });

  test("a twin's signing key swapped for the attacker's → LEDGER_STATE_MISMATCH", async (t) => {
    const { ledger, proxy, follower, twin, key } = await setup(t);
    const mallory = toHex(newIdentity().signingPublicKey);
    proxy.rewrite = (path, body) =>
      path === `/v1/state/twins/${twin}` ? { ...(body as object), signingKey: mallory } : undefined;
    const digest = follower.view.digest();
    const head = follower.head;
    const answer = await httpJson(`${proxy.url}/v1/state/twins/${twin}`);
    assert.equal((answer as { signingKey: string }).signingKey, mallory, 'the proxy lied');
    assert.throws(
      () => follower.crossCheck(`twin ${twin}`, answer, follower.view.twin(twin)),
      hasCode('LEDGER_STATE_MISMATCH'),
    );
    // The follower's own view holds the truth and did not move.
    assert.equal(follower.view.twin(twin)?.signingKey, key);
    assert.equal(follower.view.digest(), digest);
    assert.deepEqual(follower.head, head);
    assert.equal(follower.view.digest(), ledger.service.projection.digest());
  });

  test("a farm's owner changed, a record invented, a record hidden → LEDGER_STATE_MISMATCH", async (t) => {
    const { proxy, follower } = await setup(t);
    const digest = follower.view.digest();
    proxy.rewrite = (path, body) => {
      if (path === '/v1/state/farms/1') return { ...(body as object), owner: 2 };
      if (path === '/v1/state/farms/9') return { id: 9, owner: 1, name: 'ghost', createdAt: 0 };
      if (path === '/v1/state/twins/1')
        return { error: { code: 'STATE_NOT_FOUND', message: 'no' } };
      return undefined;
    };
    const lies: [string, unknown, unknown][] = [
      ['farm 1', await httpJson(`${proxy.url}/v1/state/farms/1`), follower.view.farm(1)],
      ['farm 9', await httpJson(`${proxy.url}/v1/state/farms/9`), follower.view.farm(9)],
      // A hidden record: the server says nothing exists where the log holds a twin.
      ['twin 1', await hidden(`${proxy.url}/v1/state/twins/1`), follower.view.twin(1)],
    ];
    for (const [what, answer, own] of lies)
      assert.throws(() => follower.crossCheck(what, answer, own), hasCode('LEDGER_STATE_MISMATCH'));
    assert.equal(follower.view.farm(1)?.owner, 1);
    assert.equal(follower.view.farm(9), undefined);
    assert.equal(follower.view.digest(), digest);
  });
});
