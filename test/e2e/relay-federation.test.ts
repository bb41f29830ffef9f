import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FakeTwinDirectory } from '../../src/relay/fake-twin-directory.ts';
import type { RelayServer } from '../../src/relay/index.ts';
import {
  addTwin,
  connectTwin,
  newDirectory,
  startTestRelay,
} from '../../src/relay/relay-test-kit.ts';

/*
 * Two relays federating (docs/relay.md): Alice lives at relay 1, Bob at relay 2, as their
 * ledger entries say. Each relay has its own twin, listing its own URL first, and logs in
 * to the other with it.
 */

type Cleanup = { after: (fn: () => unknown) => void };

async function relayWithTwin(
  t: Cleanup,
  dir: FakeTwinDirectory,
  twinId: number,
): Promise<RelayServer> {
  const self = addTwin(dir, twinId, [], `relay-${twinId}`);
  const relay = await startTestRelay(t, dir, { identity: self.identity });
  addTwin(dir, twinId, [relay.url], `relay-${twinId}`); // now that its URL is known
  return relay;
}

test('a request and its response cross two relays', async (t) => {
  const dir = newDirectory();
  const r1 = await relayWithTwin(t, dir, 100);
  const r2 = await relayWithTwin(t, dir, 101);
  const alice = addTwin(dir, 1, [r1.url]);
  const bob = addTwin(dir, 2, [r2.url]);
  const ca = await connectTwin(t, r1.url, alice, dir);
  const cb = await connectTwin(t, r2.url, bob, dir);
  cb.handle((m) => ({ at: 'bob', asked: m.body }));
  assert.deepEqual(await ca.request(2, 'hello'), { at: 'bob', asked: 'hello' });
  assert.equal(r1.stats().forwarded, 1, 'relay 1 forwarded the request');
  assert.equal(r2.stats().forwarded, 1, 'relay 2 forwarded the response');
  assert.deepEqual([r1.stats().delivered, r2.stats().delivered], [1, 1]);
});

test('an envelope for an offline twin waits at its own relay', async (t) => {
  const dir = newDirectory();
  const r1 = await relayWithTwin(t, dir, 100);
  const r2 = await relayWithTwin(t, dir, 101);
  const alice = addTwin(dir, 1, [r1.url]);
  const bob = addTwin(dir, 2, [r2.url]);
  const ca = await connectTwin(t, r1.url, alice, dir);
  assert.equal((await ca.send(2, 'note', 'later')).status, 'forwarded');
  assert.deepEqual([r1.stats().queue.envelopes, r2.stats().queue.envelopes], [0, 1]);
  const cb = await connectTwin(t, r2.url, bob, dir);
  const msg = await new Promise<{ body: unknown; from: number }>((resolve) =>
    cb.onMessage(resolve),
  );
  assert.deepEqual([msg.from, msg.body], [1, 'later']);
});

test('an unreachable peer relay is reported to the sender as RELAY_PEER_UNREACHABLE', async (t) => {
  const dir = newDirectory();
  const r1 = await relayWithTwin(t, dir, 100);
  const r2 = await relayWithTwin(t, dir, 101);
  const alice = addTwin(dir, 1, [r1.url]);
  addTwin(dir, 2, [r2.url]);
  await r2.close();
  const ca = await connectTwin(t, r1.url, alice, dir);
  await assert.rejects(ca.send(2, 'note', 'x'), { code: 'RELAY_PEER_UNREACHABLE' });
});

test('a relay whose twin does not list its URL cannot hand envelopes to another relay', async (t) => {
  const dir = newDirectory();
  // Relay 1's twin lists some other URL first, so relay 2 refuses it as a peer.
  const self = addTwin(dir, 100, ['ws://127.0.0.1:9'], 'relay-100');
  const r1 = await startTestRelay(t, dir, { identity: self.identity });
  const r2 = await relayWithTwin(t, dir, 101);
  const alice = addTwin(dir, 1, [r1.url]);
  const bob = addTwin(dir, 2, [r2.url]);
  const ca = await connectTwin(t, r1.url, alice, dir);
  const cb = await connectTwin(t, r2.url, bob, dir);
  let got = 0;
  cb.onMessage(() => got++);
  await assert.rejects(ca.send(2, 'note', 'x'), {
    code: 'RELAY_PEER_UNREACHABLE',
    message: /RELAY_PEER_REFUSED/,
  });
  assert.equal(got, 0);
  assert.equal(r2.stats().delivered, 0);
});

test('a relay without an identity of its own refuses to forward, clearly', async (t) => {
  const dir = newDirectory();
  const r1 = await startTestRelay(t, dir);
  const r2 = await relayWithTwin(t, dir, 101);
  const alice = addTwin(dir, 1, [r1.url]);
  addTwin(dir, 2, [r2.url]);
  const ca = await connectTwin(t, r1.url, alice, dir);
  await assert.rejects(ca.send(2, 'note', 'x'), {
    code: 'RELAY_PEER_UNREACHABLE',
    message: /no identity/,
  });
});

test('a peer relay refuses a forwarded envelope for a twin that does not live there', async (t) => {
  // Relay 1's view says Bob lives at relay 2; relay 2's own view says he moved elsewhere.
  const view1 = newDirectory();
  const view2 = newDirectory();
  const self1 = addTwin(view1, 100, [], 'relay-100');
  const r1 = await startTestRelay(t, view1, { identity: self1.identity });
  const r2 = await startTestRelay(t, view2);
  for (const view of [view1, view2]) {
    addTwin(view, 100, [r1.url], 'relay-100');
    addTwin(view, 1, [r1.url]);
  }
  addTwin(view1, 2, [r2.url]);
  addTwin(view2, 2, ['ws://127.0.0.1:9']);
  const ca = await connectTwin(t, r1.url, addTwin(view1, 1, [r1.url]), view1);
  await assert.rejects(ca.send(2, 'note', 'x'), { code: 'RELAY_RECIPIENT_NOT_HERE' });
  assert.deepEqual(r2.stats().queue, { twins: 0, envelopes: 0, bytes: 0 });
});
