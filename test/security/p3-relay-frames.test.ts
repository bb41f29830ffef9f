import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
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
 * Bad input on the wire: frames too large, frames that are not the protocol, and a twin
 * that stops reading. Each is refused with its code, the relay's memory stays within its
 * bounds, and the relay keeps serving everyone else.
 */

async function stillServes(
  t: { after: (fn: () => unknown) => void },
  url: string,
  dir: ReturnType<typeof newDirectory>,
  a: TestTwin,
  b: TestTwin,
) {
  const ca = await connectTwin(t, url, a, dir);
  const cb = await connectTwin(t, url, b, dir);
  cb.handle((m) => m.body);
  assert.equal(await ca.request(b.id, 'ping'), 'ping');
}

test('an oversized frame closes that connection (1009) and the relay keeps serving', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir, { limits: { maxFrameBytes: 64 * 1024 } });
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const before = await rawConnect(t, relay.url);
  before.send('x'.repeat(64 * 1024 + 1)); // before login
  assert.equal(await before.closed, 1009);
  const after = await rawLogin(t, relay.url, alice);
  after.send(`{"type":"send","envelope":"${'y'.repeat(70 * 1024)}"}`);
  assert.equal(await after.closed, 1009);
  assert.deepEqual([relay.stats().delivered, relay.stats().queued], [0, 0]);
  await stillServes(t, relay.url, dir, alice, bob);
});

test('malformed frames after login are answered with their code and change nothing', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir);
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const a = await rawLogin(t, relay.url, alice);
  const cases: [string, string | Buffer, string][] = [
    ['not JSON', '{"type":', 'RELAY_FRAME_MALFORMED'],
    ['duplicate key', '{"type":"send","type":"auth","envelope":{}}', 'RELAY_FRAME_MALFORMED'],
    ['not an object', '[1,2]', 'RELAY_FRAME_MALFORMED'],
    ['unknown type', '{"type":"exec","cmd":"sh"}', 'RELAY_FRAME_MALFORMED'],
    ['unknown field', '{"type":"send","envelope":{},"route":"x"}', 'RELAY_FRAME_MALFORMED'],
    [
      'second login',
      '{"type":"auth","twin":1,"role":"twin","url":null,"signature":"' + '0'.repeat(128) + '"}',
      'RELAY_FRAME_MALFORMED',
    ],
    ['not an envelope', '{"type":"send","envelope":{"id":"zz"}}', 'ENVELOPE_MALFORMED'],
    [
      'deep nesting',
      `{"type":"send","envelope":${'['.repeat(5000)}${']'.repeat(5000)}}`,
      'RELAY_FRAME_MALFORMED',
    ],
  ];
  for (const [what, frame, code] of cases) {
    a.send(frame);
    const answer = await a.next();
    assert.deepEqual([what, answer['type'], answer['code']], [what, 'error', code]);
  }
  a.ws.send(Buffer.from('{"type":"send"}'), { binary: true });
  assert.equal((await a.next())['code'], 'RELAY_FRAME_MALFORMED', 'binary frame');
  // The connection is still logged in and works.
  const good = sealEnvelope({
    sender: alice.identity,
    from: 1,
    to: { id: 2, encryptionKey: bob.identity.encryptionPublicKey },
    kind: 'note',
    payload: Buffer.from('ok'),
    expires: Date.now() + 60_000,
  });
  a.send({ type: 'send', envelope: good });
  assert.deepEqual(await a.next(), { type: 'accepted', id: good.id, status: 'queued' });
  assert.equal(relay.stats().queue.envelopes, 1);
});

test('a malformed frame before login ends the connection without an answer beyond the error', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir);
  const c = await rawConnect(t, relay.url);
  await c.next();
  c.send('garbage');
  assert.equal(await c.closed, 1008);
  assert.deepEqual(
    c.frames.map((f) => [f['type'], f['code']]),
    [
      ['challenge', undefined],
      ['error', 'RELAY_FRAME_MALFORMED'],
    ],
  );
});

test('a twin that stops reading cannot make the relay hold more than its bounds', async (t) => {
  const dir = newDirectory();
  const maxBytesPerTwin = 512 * 1024;
  const relay = await startTestRelay(t, dir, {
    limits: { maxBufferedBytes: 64 * 1024, maxBytesPerTwin },
  });
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const a = await rawLogin(t, relay.url, alice);
  const b = await rawLogin(t, relay.url, bob);
  (b.ws as unknown as { _socket: Socket })._socket.pause(); // Bob stops reading
  const payload = Buffer.alloc(100 * 1024, 7);
  const statuses: string[] = [];
  let full = false;
  for (let i = 0; i < 400 && !full; i++) {
    a.send({
      type: 'send',
      envelope: sealEnvelope({
        sender: alice.identity,
        from: 1,
        to: { id: 2, encryptionKey: bob.identity.encryptionPublicKey },
        kind: 'bulk',
        payload,
        expires: Date.now() + 60_000,
      }),
    });
    const answer = await a.next();
    statuses.push(String(answer['status'] ?? answer['code']));
    full = answer['code'] === 'RELAY_QUEUE_FULL';
  }
  assert.ok(full, `the queue filled up: ${statuses.slice(-5).join(',')}`);
  assert.ok(statuses.includes('queued'), 'envelopes were queued once Bob fell behind');
  assert.ok(
    relay.stats().queue.bytes <= maxBytesPerTwin,
    `queue holds ${relay.stats().queue.bytes} bytes`,
  );
  // Bob reads again and receives every envelope the relay accepted for him, in order.
  const accepted = statuses.filter((s) => s === 'delivered' || s === 'queued').length;
  (b.ws as unknown as { _socket: Socket })._socket.resume();
  const deadline = 2 + accepted; // challenge, ready, then every envelope
  while (b.frames.length < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(b.frames.filter((f) => f['type'] === 'deliver').length, accepted);
  assert.equal(relay.stats().queue.envelopes, 0);
});
