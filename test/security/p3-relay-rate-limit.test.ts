import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.ts';
import { sealEnvelope } from '../../src/relay/envelope-crypto.ts';
import {
  addTwin,
  connectTwin,
  newDirectory,
  rawConnect,
  rawLogin,
  startTestRelay,
  type TestTwin,
} from '../../src/relay/relay-test-kit.ts';

/*
 * A twin flooding its relay (docs/relay.md, "Rate limits"): each envelope past its rate is
 * refused with RELAY_RATE_LIMITED, naming the envelope, and costs the relay no signature
 * check; past the hard bound its connection is closed with RELAY_RATE_LIMIT_EXCEEDED. The
 * relay's clock is frozen here, so the buckets do not refill and every count is exact;
 * other twins, with buckets of their own, keep their round trips.
 */

type Cleanup = { after: (fn: () => unknown) => void };

function sealFor(from: TestTwin, to: TestTwin, n: number) {
  return sealEnvelope({
    sender: from.identity,
    from: from.id,
    to: { id: to.id, encryptionKey: to.identity.encryptionPublicKey },
    kind: 'note',
    payload: Buffer.from(`flood ${n}`),
    expires: Date.now() + 60_000,
  });
}

async function flooded(t: Cleanup) {
  const dir = newDirectory();
  const clock = new ManualClock(Date.now());
  const relay = await startTestRelay(t, dir, {
    clock,
    limits: { rateBurstMessages: 50, rateMessagesPerSecond: 10, rateHardFactor: 2 },
  });
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const mallory = addTwin(dir, 3);
  const victim = addTwin(dir, 4); // offline: what Mallory gets through waits in its queue
  return { dir, relay, alice, bob, mallory, victim };
}

test('a flooding twin gets RELAY_RATE_LIMITED per envelope, then is cut off, while others keep talking', async (t) => {
  const s = await flooded(t);
  const ca = await connectTwin(t, s.relay.url, s.alice, s.dir);
  const cb = await connectTwin(t, s.relay.url, s.bob, s.dir);
  cb.handle((m) => ({ echo: m.body }));
  const flood = await rawLogin(t, s.relay.url, s.mallory);
  const envelopes = Array.from({ length: 150 }, (_, i) => sealFor(s.mallory, s.victim, i));

  const talk = Promise.all(Array.from({ length: 10 }, (_, i) => ca.request(2, i)));
  for (const e of envelopes) flood.send({ type: 'send', envelope: e });
  assert.equal(await flood.closed, 1008);
  assert.deepEqual(
    await talk,
    Array.from({ length: 10 }, (_, i) => ({ echo: i })),
  );

  const errors = flood.frames.filter((f) => f['type'] === 'error');
  const limited = errors.filter((f) => f['code'] === 'RELAY_RATE_LIMITED');
  // The burst (50) is taken; the next 50 are refused one by one, each naming its envelope;
  // the 101st frame is past the hard bound (2 x 50) and ends the connection.
  assert.deepEqual(
    limited.map((f) => f['id']),
    envelopes.slice(50, 100).map((e) => e.id),
  );
  assert.match(String(limited[0]!['message']), /slow down/);
  assert.deepEqual(errors.at(-1), {
    type: 'error',
    code: 'RELAY_RATE_LIMIT_EXCEEDED',
    message: errors.at(-1)!['message'],
    id: null,
  });
  assert.equal(errors.length, 51);
  const st = s.relay.stats();
  assert.deepEqual([st.rateLimited, st.rateClosed], [50, 1]);
  assert.equal(st.queue.envelopes, 50, 'nothing past the burst reached the queue');
  assert.deepEqual(s.relay.connectedTwins().sort(), [1, 2]);
});

test('frames that are not envelopes count against the rate too', async (t) => {
  const s = await flooded(t);
  const flood = await rawLogin(t, s.relay.url, s.mallory);
  for (let i = 0; i < 150; i++) flood.send('not json');
  assert.equal(await flood.closed, 1008);
  const codes = flood.frames.filter((f) => f['type'] === 'error').map((f) => f['code']);
  assert.deepEqual(codes, [
    ...Array<string>(50).fill('RELAY_FRAME_MALFORMED'),
    ...Array<string>(50).fill('RELAY_RATE_LIMITED'),
    'RELAY_RATE_LIMIT_EXCEEDED',
  ]);
  assert.equal(s.relay.stats().queue.envelopes, 0);
});

test('a client that slows down when refused gets every envelope through and keeps its connection', async (t) => {
  const dir = newDirectory();
  // Real time here: the client must wait for the bucket to refill.
  const relay = await startTestRelay(t, dir, {
    limits: { rateBurstMessages: 64, rateMessagesPerSecond: 200 },
  });
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const ca = await connectTwin(t, relay.url, alice, dir);
  const cb = await connectTwin(t, relay.url, bob, dir);
  let got = 0;
  cb.onMessage(() => got++);
  const sent = await Promise.all(
    Array.from({ length: 300 }, (_, i) => ca.send(2, 'note', i, { timeoutMs: 30_000 })),
  );
  assert.equal(sent.length, 300);
  const st = relay.stats();
  assert.ok(st.rateLimited > 0, 'the relay did refuse some: the test exercised the limit');
  assert.equal(st.rateClosed, 0);
  assert.equal(st.delivered + st.queued, 300);
  assert.equal(ca.counters.reconnects, 0, 'never cut off');
  while (got < 300) await new Promise((r) => setTimeout(r, 20));
  assert.equal(got, 300);
});

test('connections that do not log in are bounded per address (upgrade answered 429)', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir, { limits: { maxUnauthenticatedPerAddress: 2 } });
  const bob = addTwin(dir, 2);
  await rawConnect(t, relay.url);
  await rawConnect(t, relay.url);
  await assert.rejects(rawConnect(t, relay.url), /429/);
  // Not even a twin with a valid key gets in from there while the two hold their slots.
  await assert.rejects(rawLogin(t, relay.url, bob), /429/);
  const st = relay.stats();
  assert.deepEqual([st.unauthenticated, st.preauthRefused, st.connections, st.twins], [2, 2, 2, 0]);
});

test('a connection that goes away, or logs in, no longer counts as unauthenticated', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir, { limits: { maxUnauthenticatedPerAddress: 1 } });
  const bob = addTwin(dir, 2);
  const c = await rawConnect(t, relay.url);
  await assert.rejects(rawConnect(t, relay.url), /429/);
  c.ws.terminate();
  await c.closed;
  while (relay.stats().unauthenticated > 0) await new Promise((r) => setTimeout(r, 10));
  await rawLogin(t, relay.url, bob); // counted while logging in, then released
  assert.equal(relay.stats().unauthenticated, 0);
  await rawConnect(t, relay.url);
  assert.deepEqual(relay.connectedTwins(), [2]);
});

test('limits that cannot work are refused at start with RELAY_LISTEN_INVALID', async (t) => {
  await assert.rejects(startTestRelay(t, newDirectory(), { limits: { rateBurstBytes: 1024 } }), {
    code: 'RELAY_LISTEN_INVALID',
    message: /rateBurstBytes/,
  });
});
