/*
 * P6 against a real ledger server on loopback: a ledger (or anyone between it and its
 * readers) that serves a rewritten history, a different history signed with the real key,
 * or an older copy of its own store. The verifying follower refuses with the code that
 * names what happened, keeps the head it had verified (in memory and in its state file),
 * and refuses all further use, even when the honest server comes back.
 */
import assert from 'node:assert/strict';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import type { JsonValue } from '../../src/core/canonical-json.ts';
import type { ErrorCode } from '../../src/core/error-codes.ts';
import type { VdcError } from '../../src/core/errors.ts';
import type { Identity } from '../../src/identity/index.ts';
import type { LedgerClient } from '../../src/ledger/ledger-client.ts';
import { LedgerFollower } from '../../src/ledger/ledger-follower.ts';
import { loadOrCreateLedgerKey } from '../../src/ledger/ledger-key.ts';
import type { RunningLedger } from '../../src/ledger/ledger-server.ts';
import type { Leaf } from '../../src/ledger/log-leaf.ts';
import { signHead } from '../../src/ledger/signed-head.ts';
import {
  assertUnmoved,
  type FollowerState,
  followerState,
  hasCode,
  newUser,
  registerTwin,
  snapshotLedger,
  startLyingProxy,
  startTestLedger,
  tempDir,
} from '../support/ledger-fixture.ts';

type T = { after: (fn: () => unknown) => void };

async function farms(client: LedgerClient, identity: Identity, ...names: string[]) {
  for (const name of names) await client.submit(identity, 'farm.create', { name });
}

/** A follower with a state file, behind `url` (usually a proxy). */
function follower(t: T, url: string, ledger: RunningLedger, stateFile?: string) {
  return new LedgerFollower({
    url,
    ledgerKey: ledger.service.publicKey,
    stateFile: stateFile ?? join(tempDir(t, 'vdc-follower-'), 'head.json'),
  });
}

/** Syncs `f` (the attack), expects `code`, and checks the follower did not move. */
async function refused(
  f: LedgerFollower,
  code: ErrorCode,
  before: FollowerState,
  stateFile?: string,
): Promise<VdcError> {
  let caught: unknown;
  await assert.rejects(f.sync(), (err) => {
    caught = err;
    return hasCode(code)(err);
  });
  await assertUnmoved(f, code, before, stateFile);
  return caught as VdcError;
}

/**
 * Once the lie stops: a follower that kept refusing stays refused; one that only refused
 * the answer syncs to the honest head.
 */
async function honestAgain(f: LedgerFollower, ledger: RunningLedger, code: ErrorCode) {
  if (f.failure) {
    await assert.rejects(f.sync(), hasCode(code));
    return;
  }
  await f.sync();
  assert.equal(f.view.digest(), ledger.service.projection.digest());
}

async function setup(t: T) {
  const dir = tempDir(t);
  const ledger = await startTestLedger(t, dir);
  const user = await newUser(t, ledger.url);
  await registerTwin(user.client, user.identity);
  await farms(user.client, user.identity, 'one', 'two');
  return { dir, ledger, ...user };
}

describe('P6 follower: rewritten history', () => {
  test('an entry altered in transit, after a verified head → LEDGER_REWRITTEN', async (t) => {
    const { ledger, client, identity } = await setup(t);
    const proxy = await startLyingProxy(t, ledger.url);
    const stateFile = join(tempDir(t), 'head.json');
    const f = follower(t, proxy.url, ledger, stateFile);
    await f.sync();
    assert.equal(f.head?.size, 3);
    const before = followerState(f, stateFile);
    await farms(client, identity, 'three', 'four');
    proxy.rewrite = (path, body) => {
      if (path !== '/v1/entries') return undefined;
      const entries = (body as { entries: { seq: number; tx: { body: { name: string } } }[] })
        .entries;
      for (const e of entries) if (e.seq === 3) e.tx.body.name = 'stolen';
      return body;
    };
    const err = await refused(f, 'LEDGER_REWRITTEN', before, stateFile);
    assert.match(err.message, /rewritten/);
    proxy.rewrite = undefined;
    await honestAgain(f, ledger, 'LEDGER_REWRITTEN');
  });

  test('a first sync over an altered entry → LEDGER_REWRITTEN, nothing applied', async (t) => {
    const { ledger } = await setup(t);
    const proxy = await startLyingProxy(t, ledger.url, (path, body) => {
      if (path !== '/v1/entries') return undefined;
      const entries = (body as { entries: { seq: number; acceptedAt: number }[] }).entries;
      if (entries[1]) entries[1].acceptedAt += 1;
      return body;
    });
    const f = follower(t, proxy.url, ledger);
    await refused(f, 'LEDGER_REWRITTEN', followerState(f));
    assert.equal(f.head, undefined);
  });

  test('an entry left out of a page → LEDGER_REWRITTEN', async (t) => {
    const { ledger, client, identity } = await setup(t);
    const proxy = await startLyingProxy(t, ledger.url);
    const stateFile = join(tempDir(t), 'head.json');
    const f = follower(t, proxy.url, ledger, stateFile);
    await f.sync();
    const before = followerState(f, stateFile);
    await farms(client, identity, 'three', 'four');
    proxy.rewrite = (path, body) => {
      if (path !== '/v1/entries') return undefined;
      const page = body as { entries: { seq: number }[] };
      page.entries = page.entries.filter((e) => e.seq !== 3);
      return page;
    };
    await refused(f, 'LEDGER_REWRITTEN', before, stateFile);
    proxy.rewrite = undefined;
    await honestAgain(f, ledger, 'LEDGER_REWRITTEN');
  });

  test('a consistency proof altered in transit → LEDGER_FORK naming both heads', async (t) => {
    const { ledger, client, identity } = await setup(t);
    const proxy = await startLyingProxy(t, ledger.url);
    const stateFile = join(tempDir(t), 'head.json');
    const f = follower(t, proxy.url, ledger, stateFile);
    await f.sync();
    const before = followerState(f, stateFile);
    await farms(client, identity, 'three');
    proxy.rewrite = (path, body) => {
      if (path !== '/v1/proofs/consistency') return undefined;
      const proof = body as { path: string[] };
      proof.path[0] = 'ff'.repeat(32);
      return proof;
    };
    const err = await refused(f, 'LEDGER_FORK', before, stateFile);
    assert.ok(err.message.includes(f.head!.root), 'names the verified head');
    assert.ok(err.message.includes(ledger.service.head.root), 'names the new head');
  });

  test('a served leaf that differs from the verified log → proveLeaf LEDGER_REWRITTEN', async (t) => {
    const { ledger } = await setup(t);
    const f = follower(t, ledger.url, ledger);
    await f.sync();
    const [leaf] = (await ledger.service.entries(1, 1)) as [Leaf];
    await f.proveLeaf(leaf);
    await assert.rejects(
      f.proveLeaf({ ...leaf, tx: { ...leaf.tx, nonce: 99 } }),
      hasCode('LEDGER_REWRITTEN'),
    );
    await assert.rejects(f.proveLeaf({ ...leaf, seq: 7 }), hasCode('LOG_SIZE_EXCEEDED'));
  });
});

describe('P6 follower: times the ledger signed', () => {
  test('a leaf accepted after the head over it was signed → LEDGER_ENTRY_REFUSED, final', async (t) => {
    const { dir, ledger } = await setup(t);
    const last = (await ledger.service.entries(ledger.service.head.size - 1, 1))[0] as Leaf;
    // The ledger's own key signs the real tree with a time before its newest leaf.
    const key = loadOrCreateLedgerKey(join(dir, 'ledger.key'));
    const head = ledger.service.head;
    const backdated = signHead(
      { size: head.size, root: Buffer.from(head.root, 'hex'), time: last.acceptedAt - 60_000 },
      key.privateKey,
    );
    const proxy = await startLyingProxy(t, ledger.url, (path) =>
      path === '/v1/head' ? (backdated as unknown as JsonValue) : undefined,
    );
    const stateFile = join(tempDir(t), 'head.json');
    const f = follower(t, proxy.url, ledger, stateFile);
    const err = await refused(f, 'LEDGER_ENTRY_REFUSED', followerState(f, stateFile), stateFile);
    assert.match(err.message, /over leaf \d+, which it says it accepted later/);
    assert.ok(f.failure, 'signed evidence: the follower refuses all further use');
    // Control: the honest head of the same tree is signed no earlier than its newest leaf.
    assert.ok(ledger.service.head.time >= last.acceptedAt);
    const honest = follower(t, ledger.url, ledger);
    await honest.sync();
    assert.equal(honest.view.digest(), ledger.service.projection.digest());
  });
});

describe('P6 follower: another history signed with the real key', () => {
  /** A and B share the key and the first three leaves, then each appends its own farm. */
  async function forked(t: T) {
    const base = await setup(t);
    const { ledger: a, copy } = await snapshotLedger(t, base.ledger, base.dir);
    const b = await startTestLedger(t, copy);
    assert.deepEqual(a.service.publicKey, b.service.publicKey);
    const onA = await newUser(t, a.url);
    const onB = await newUser(t, b.url);
    await farms(onA.client, base.identity, 'honest');
    await farms(onB.client, base.identity, 'forged');
    assert.equal(a.service.head.size, b.service.head.size);
    assert.notEqual(a.service.head.root, b.service.head.root);
    return { a, b, identity: base.identity, onB };
  }

  test('the same size with another root → LEDGER_FORK', async (t) => {
    const { a, b } = await forked(t);
    const proxy = await startLyingProxy(t, a.url);
    const stateFile = join(tempDir(t), 'head.json');
    const f = follower(t, proxy.url, a, stateFile);
    await f.sync();
    assert.equal(f.view.digest(), a.service.projection.digest());
    const before = followerState(f, stateFile);
    proxy.target = b.url;
    const err = await refused(f, 'LEDGER_FORK', before, stateFile);
    assert.ok(
      err.message.includes(a.service.head.root) && err.message.includes(b.service.head.root),
    );
  });

  test('a longer history that does not extend the verified head → LEDGER_FORK', async (t) => {
    const { a, b, identity, onB } = await forked(t);
    await farms(onB.client, identity, 'more', 'and more');
    const proxy = await startLyingProxy(t, a.url);
    const stateFile = join(tempDir(t), 'head.json');
    const f = follower(t, proxy.url, a, stateFile);
    await f.sync();
    const before = followerState(f, stateFile);
    proxy.target = b.url;
    assert.ok(b.service.head.size > a.service.head.size);
    await refused(f, 'LEDGER_FORK', before, stateFile);
  });

  test('a head that ends among leaves applied but not yet trusted, on another history → LEDGER_FORK', async (t) => {
    // The follower trusts the shared prefix (3 leaves), then applies 2 leaves of A whose head
    // it cannot save (so it does not trust it); B, signed with the same key, then shows a
    // head of size 4 over its own leaf 3. It extends the trusted head, and catching up would
    // apply nothing: only the applied leaves can tell it is another history.
    const base = await setup(t);
    const stateFile = join(tempDir(t), 'state', 'head.json');
    const proxy = await startLyingProxy(t, base.ledger.url);
    const f = follower(t, proxy.url, base.ledger, stateFile);
    const prefix = await f.sync();
    const { ledger: a, copy } = await snapshotLedger(t, base.ledger, base.dir);
    const b = await startTestLedger(t, copy);
    await farms((await newUser(t, a.url)).client, base.identity, 'honest', 'more');
    await farms((await newUser(t, b.url)).client, base.identity, 'forged');
    assert.equal(b.service.head.size, prefix.size + 1);
    proxy.target = a.url;
    const dir = dirname(stateFile);
    renameSync(dir, `${dir}.away`);
    writeFileSync(dir, 'not a folder');
    await assert.rejects(f.sync(), hasCode('FILE_WRITE_FAILED'));
    rmSync(dir);
    renameSync(`${dir}.away`, dir);
    // A's leaves are applied, its head not trusted: the saved head is still the prefix.
    assert.deepEqual(JSON.parse(readFileSync(stateFile, 'utf8')), prefix);
    const before = followerState(f, stateFile);
    proxy.target = b.url;
    const err = await refused(f, 'LEDGER_FORK', before, stateFile);
    assert.ok(err.message.includes(b.service.head.root));
    assert.ok(f.failure, 'signed evidence: the follower refuses all further use');
    // Control: A's own head of that history is trusted once it can be saved.
    const honest = follower(t, proxy.url, a, stateFile);
    proxy.target = a.url;
    await honest.sync();
    assert.equal(honest.view.digest(), a.service.projection.digest());
  });

  test('control: a follower that verified only the shared prefix follows either branch', async (t) => {
    const base = await setup(t);
    const stateFile = join(tempDir(t), 'head.json');
    const f = follower(t, base.ledger.url, base.ledger, stateFile);
    await f.sync();
    const { copy } = await snapshotLedger(t, base.ledger, base.dir);
    const b = await startTestLedger(t, copy);
    const onB = await newUser(t, b.url);
    await farms(onB.client, base.identity, 'forged');
    const resumed = follower(t, b.url, b, stateFile);
    await resumed.sync();
    assert.equal(resumed.view.digest(), b.service.projection.digest());
  });
});

describe('P6 follower: rolled-back log', () => {
  async function rolledBack(t: T) {
    const base = await setup(t);
    const { ledger: a, copy } = await snapshotLedger(t, base.ledger, base.dir);
    const onA = await newUser(t, a.url);
    await farms(onA.client, base.identity, 'three', 'four');
    const proxy = await startLyingProxy(t, a.url);
    const stateFile = join(tempDir(t), 'head.json');
    const f = follower(t, proxy.url, a, stateFile);
    await f.sync();
    assert.equal(f.head?.size, 5);
    const older = await startTestLedger(t, copy);
    assert.equal(older.service.head.size, 3);
    return { a, older, proxy, stateFile, f, identity: base.identity };
  }

  test('an older copy of the store with the same key → LEDGER_ROLLBACK', async (t) => {
    const { a, older, proxy, stateFile, f } = await rolledBack(t);
    const before = followerState(f, stateFile);
    assert.equal(before.digest, a.service.projection.digest());
    proxy.target = older.url;
    const err = await refused(f, 'LEDGER_ROLLBACK', before, stateFile);
    assert.match(err.message, /size 3 .*size 5/);
  });

  test('a restarted follower still refuses the older copy (state file)', async (t) => {
    const { a, older, proxy, stateFile, f } = await rolledBack(t);
    proxy.target = older.url;
    const restarted = follower(t, proxy.url, a, stateFile);
    await refused(restarted, 'LEDGER_ROLLBACK', followerState(restarted, stateFile), stateFile);
    assert.equal(restarted.head, undefined);
    // Control: the same state file against the honest ledger resumes.
    proxy.target = a.url;
    const honest = follower(t, proxy.url, a, stateFile);
    await honest.sync();
    assert.equal(honest.view.digest(), a.service.projection.digest());
    assert.equal(f.head?.size, 5);
  });

  test('the older copy grown past the verified size with another history → LEDGER_FORK after a restart', async (t) => {
    const { a, older, proxy, stateFile, identity } = await rolledBack(t);
    const onOlder = await newUser(t, older.url);
    await farms(onOlder.client, identity, 'x', 'y', 'z');
    assert.ok(older.service.head.size > 5);
    proxy.target = older.url;
    const restarted = follower(t, proxy.url, a, stateFile);
    await refused(restarted, 'LEDGER_FORK', followerState(restarted, stateFile), stateFile);
  });
});
