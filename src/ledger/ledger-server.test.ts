import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  newUser,
  registerTwin,
  startTestLedger,
  tempDir,
} from '../../test/support/ledger-fixture.ts';
import { VdcError } from '../core/errors.ts';
import { httpJson } from '../core/http-client.ts';
import { readEvents } from '../core/sse.ts';
import { LedgerFollower } from './ledger-follower.ts';
import { verifyHead } from './signed-head.ts';

const code = (c: string) => (err: unknown) => err instanceof VdcError && err.code === c;

describe('ledger server, client and follower', () => {
  test('a user registers a twin and a farm; every answer is proven and the follower agrees', async (t) => {
    const dir = tempDir(t);
    const ledger = await startTestLedger(t, dir);
    const notices: string[] = [];
    const { identity, client, home } = await newUser(t, ledger.url);
    const twin = await registerTwin(client, identity);
    assert.equal(twin, 1);
    const farm = await client.submit(identity, 'farm.create', { name: 'home' });
    assert.equal(farm.created['farms'], 1);
    assert.equal(client.follower.view.farm(1)?.owner, 1);
    assert.equal(client.follower.head?.size, 2);
    // The server's own projection and the follower's agree exactly.
    assert.equal(client.follower.view.digest(), ledger.service.projection.digest());
    // The key was pinned on first contact.
    const { LedgerClient } = await import('./ledger-client.ts');
    await LedgerClient.connect({ url: ledger.url, home, say: (l) => notices.push(l) });
    assert.deepEqual(notices, [], 'pinned once, not again');
  });

  test('a refused transaction gets its rule code and changes nothing', async (t) => {
    const ledger = await startTestLedger(t, tempDir(t));
    const { identity, client } = await newUser(t, ledger.url);
    await assert.rejects(
      client.submit(identity, 'farm.create', { name: 'x' }),
      code('TWIN_NOT_REGISTERED'),
    );
    await registerTwin(client, identity);
    const before = ledger.service.head.size;
    await assert.rejects(
      client.submit(identity, 'twin.create', { encryptionKey: '00'.repeat(32), relays: [] }),
      (err: unknown) =>
        (err instanceof VdcError && err.code.startsWith('TX_')) || err instanceof VdcError,
    );
    assert.equal(ledger.service.head.size, before);
    const raw = await fetch(`${ledger.url}/v1/submit`, {
      method: 'POST',
      body: '{"tx":{},"tx":{}}',
    });
    assert.equal(raw.status, 400);
    assert.equal(ledger.service.head.size, before);
  });

  test('serves entries, proofs and an event stream', async (t) => {
    const ledger = await startTestLedger(t, tempDir(t));
    const { identity, client } = await newUser(t, ledger.url);
    await registerTwin(client, identity);
    const entries = (await httpJson(`${ledger.url}/v1/entries?from=0`)) as {
      entries: { seq: number }[];
    };
    assert.deepEqual(
      entries.entries.map((e) => e.seq),
      [0],
    );
    await assert.rejects(httpJson(`${ledger.url}/v1/entries?from=-1`), code('INPUT_INVALID'));
    await assert.rejects(
      httpJson(`${ledger.url}/v1/proofs/inclusion?seq=5`),
      code('LOG_RANGE_INVALID'),
    );

    const abort = new AbortController();
    t.after(() => abort.abort());
    const res = await fetch(`${ledger.url}/v1/stream?from=0`, { signal: abort.signal });
    const events = readEvents(res.body!);
    const first = await events.next();
    assert.equal(first.value?.event, 'head');
    verifyHead(JSON.parse(first.value!.data), ledger.service.publicKey);
    assert.equal((await events.next()).value?.event, 'leaf');
    await client.submit(identity, 'farm.create', { name: 'f' });
    const seen: string[] = [];
    for (let i = 0; i < 2; i++) seen.push((await events.next()).value!.event);
    assert.deepEqual(seen.sort(), ['head', 'leaf']);
  });

  test('state survives a restart of the server; a restarted follower resumes', async (t) => {
    const dir = tempDir(t);
    const first = await startTestLedger(t, dir);
    const { identity, client, home } = await newUser(t, first.url);
    await registerTwin(client, identity);
    await client.submit(identity, 'farm.create', { name: 'a' });
    const digest = first.service.projection.digest();
    await first.close();
    const second = await startTestLedger(t, dir);
    assert.equal(second.service.projection.digest(), digest);
    const follower = new LedgerFollower({
      url: second.url,
      ledgerKey: second.service.publicKey,
      stateFile: `${home}/resume.json`,
    });
    await follower.sync();
    assert.equal(follower.view.digest(), digest);
  });
});
