/*
 * The follower saves every head it trusts, off the event loop, before it trusts it: when
 * sync() resolves the state file already holds the head (heartbeats included), so a restart
 * refuses anything older; a head that cannot be saved is not trusted. The attacks on a saved
 * head (rolled-back store, forks after a restart) are in test/security/p6-follower-history.
 */
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import {
  assertUnmoved,
  followerState,
  hasCode,
  newUser,
  registerTwin,
  startLyingProxy,
  startTestLedger,
  tempDir,
} from '../../test/support/ledger-fixture.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import { ManualClock } from '../core/clock.ts';
import { LedgerClient } from './ledger-client.ts';
import { LedgerFollower } from './ledger-follower.ts';
import type { RunningLedger } from './ledger-server.ts';
import type { SignedHead } from './signed-head.ts';

function saved(stateFile: string): unknown {
  return JSON.parse(readFileSync(stateFile, 'utf8'));
}

/** A fresh head of the same size, signed later than `after` (the ledger's clock is real). */
async function heartbeatAfter(ledger: RunningLedger, after: SignedHead): Promise<SignedHead> {
  for (;;) {
    const head = await ledger.service.heartbeat();
    if (head.time > after.time) return head;
  }
}

describe('ledger follower: the saved head', () => {
  test('every new head is saved by the time sync() resolves; a restart refuses older ones', async (t) => {
    const ledger = await startTestLedger(t, tempDir(t));
    const proxy = await startLyingProxy(t, ledger.url);
    const { identity, home, client } = await newUser(t, proxy.url);
    const f = client.follower;
    const stateFile = join(home, 'ledgers', f.ledger, 'head.json');
    await registerTwin(client, identity);
    const first = f.head!;
    assert.deepEqual(saved(stateFile), first);
    await client.submit(identity, 'farm.create', { name: 'one' });
    const grown = f.head!;
    assert.ok(grown.size > first.size);
    assert.deepEqual(saved(stateFile), grown);
    // A heartbeat: same size, later time. It moves the lease nodes fence on, so it is saved too.
    const beat = await heartbeatAfter(ledger, grown);
    assert.deepEqual(await f.sync(), beat);
    assert.deepEqual(saved(stateFile), beat);

    // Restarted from the same home, the follower refuses a smaller head and the head the
    // heartbeat replaced, both signed by the real key, and the saved head stays.
    const before = readFileSync(stateFile, 'utf8');
    proxy.rewrite = (path) => (path === '/v1/head' ? (first as unknown as JsonValue) : undefined);
    await assert.rejects(
      LedgerClient.connect({ url: proxy.url, home }),
      hasCode('LEDGER_ROLLBACK'),
    );
    const restarted = new LedgerFollower({ url: proxy.url, ledgerKey: f.ledgerKey, stateFile });
    await assert.rejects(restarted.sync(grown), hasCode('LEDGER_HEAD_STALE'));
    assert.equal(restarted.head, undefined);
    assert.equal(readFileSync(stateFile, 'utf8'), before);
    // Control: the honest ledger is followed from the saved head.
    proxy.rewrite = undefined;
    const resumed = await LedgerClient.connect({ url: proxy.url, home });
    assert.deepEqual(resumed.follower.head, beat);
    assert.equal(resumed.follower.view.digest(), ledger.service.projection.digest());
  });

  test('a head that cannot be saved is not trusted: FILE_WRITE_FAILED, nothing moved', async (t) => {
    const ledger = await startTestLedger(t, tempDir(t));
    const user = await newUser(t, ledger.url);
    await registerTwin(user.client, user.identity);
    const stateFile = join(tempDir(t), 'state', 'head.json');
    const clock = new ManualClock();
    const f = new LedgerFollower({
      url: ledger.url,
      ledgerKey: ledger.service.publicKey,
      stateFile,
      clock,
    });
    const trusted = await f.sync();
    const verifiedAt = f.verifiedAt;
    const before = followerState(f, stateFile);
    // The state folder is replaced by a file: the next head cannot be saved.
    const dir = dirname(stateFile);
    renameSync(dir, `${dir}.away`);
    writeFileSync(dir, 'not a folder');
    const beat = await heartbeatAfter(ledger, trusted);
    clock.advance(1000);
    await assert.rejects(f.sync(), hasCode('FILE_WRITE_FAILED'));
    assert.deepEqual(f.head, trusted, 'the new head is not trusted');
    assert.equal(f.verifiedAt, verifiedAt, 'the lease did not move');
    renameSync(dir, `${dir}.file`);
    renameSync(`${dir}.away`, dir);
    await assertUnmoved(f, 'FILE_WRITE_FAILED', before, stateFile);
    // Once the folder is back, the next sync saves the head and trusts it.
    assert.deepEqual(await f.sync(), beat);
    assert.deepEqual(saved(stateFile), beat);
    assert.equal(f.verifiedAt, clock.now());
  });
});
