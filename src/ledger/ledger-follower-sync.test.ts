/*
 * sync() without a head answers with the ledger as it was when it was called, also when
 * another sync was already running: that one may have read an older head (a node checking
 * a contract just created must find it, not the head of a poll that began before).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  newUser,
  registerTwin,
  startLyingProxy,
  startTestLedger,
  tempDir,
} from '../../test/support/ledger-fixture.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import { LedgerFollower } from './ledger-follower.ts';

test('a sync() called while an older sync runs answers with the head after the call', async (t) => {
  const ledger = await startTestLedger(t, tempDir(t));
  const { identity, client } = await newUser(t, ledger.url);
  await registerTwin(client, identity);
  const proxy = await startLyingProxy(t, ledger.url);
  const f = new LedgerFollower({ url: proxy.url, ledgerKey: ledger.service.publicKey });
  const older = await f.sync();
  const farm = await client.submit(identity, 'farm.create', { name: 'new' });
  // The sync already running read the head from before the farm (as a poll that began
  // just before would have); the one after it must not settle for that.
  let served = 0;
  proxy.rewrite = (path) =>
    path === '/v1/head' && served++ === 0 ? (older as unknown as JsonValue) : undefined;
  const running = f.sync();
  const after = f.sync();
  assert.deepEqual(await running, older);
  const head = await after;
  assert.equal(head.size, ledger.service.head.size);
  assert.ok(f.view.farm(farm.created['farms']!), 'the new farm is in the view');
  // Control: a call for a given head is answered by the sync that covered it.
  const covered = f.sync(head);
  assert.deepEqual(await Promise.all([covered, f.sync(head)]), [head, head]);
});
