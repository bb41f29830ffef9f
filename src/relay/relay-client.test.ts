import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { RelayClient } from './relay-client.ts';
import { addTwin, connectTwin, newDirectory, startTestRelay, tempDir } from './relay-test-kit.ts';

test('a message sent by one twin arrives, decrypted, at the other', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir);
  const a = addTwin(dir, 1);
  const b = addTwin(dir, 2);
  const ca = await connectTwin(t, relay.url, a, dir);
  const cb = await connectTwin(t, relay.url, b, dir);
  const got = new Promise((resolve) => cb.onMessage(resolve));
  const sent = await ca.send(2, 'note', { hello: 'world' });
  assert.equal(sent.status, 'delivered');
  assert.deepEqual(await got, {
    id: sent.id,
    from: 1,
    kind: 'note',
    replyTo: null,
    body: { hello: 'world' },
  });
});

test('a request is answered by the response bound to it by replyTo', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir);
  const ca = await connectTwin(t, relay.url, addTwin(dir, 1), dir);
  const cb = await connectTwin(t, relay.url, addTwin(dir, 2), dir);
  cb.handle((msg) => ({ echo: msg.body, from: msg.from }));
  assert.deepEqual(await ca.request(2, { n: 1 }), { echo: { n: 1 }, from: 1 });
  const [x, y] = await Promise.all([ca.request(2, 'x'), ca.request(2, 'y')]);
  assert.deepEqual(
    [x, y],
    [
      { echo: 'x', from: 1 },
      { echo: 'y', from: 1 },
    ],
  );
});

test("a responder's error reaches the requester with its code", async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir);
  const ca = await connectTwin(t, relay.url, addTwin(dir, 1), dir);
  const cb = await connectTwin(t, relay.url, addTwin(dir, 2), dir);
  cb.handle(() => {
    throw new VdcError('INPUT_INVALID', "'name' must be a string");
  });
  await assert.rejects(ca.request(2, {}), {
    code: 'INPUT_INVALID',
    message: "'name' must be a string",
  });
});

test('a request nobody answers times out with RELAY_REQUEST_TIMEOUT', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir);
  const ca = await connectTwin(t, relay.url, addTwin(dir, 1), dir);
  await connectTwin(t, relay.url, addTwin(dir, 2), dir); // connected, but no handler
  await assert.rejects(ca.request(2, {}, { timeoutMs: 200 }), { code: 'RELAY_REQUEST_TIMEOUT' });
});

test('sending to a twin the ledger does not know is refused before anything leaves', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir);
  const ca = await connectTwin(t, relay.url, addTwin(dir, 1), dir);
  await assert.rejects(ca.send(99, 'note', {}), { code: 'ENVELOPE_RECIPIENT_UNKNOWN' });
  assert.equal(relay.stats().refused + relay.stats().delivered + relay.stats().queued, 0);
});

test('an envelope for an offline twin is queued and delivered when it connects', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir);
  const ca = await connectTwin(t, relay.url, addTwin(dir, 1), dir);
  const b = addTwin(dir, 2);
  const first = await ca.send(2, 'note', 1);
  const second = await ca.send(2, 'note', 2);
  assert.deepEqual([first.status, second.status], ['queued', 'queued']);
  assert.equal(relay.stats().queue.envelopes, 2);
  const bodies: unknown[] = [];
  const both = new Promise<void>((resolve) => {
    void connectTwin(t, relay.url, b, dir).then((cb) =>
      cb.onMessage((m) => {
        bodies.push(m.body);
        if (bodies.length === 2) resolve();
      }),
    );
  });
  await both;
  assert.deepEqual(bodies, [1, 2]);
  assert.equal(relay.stats().queue.envelopes, 0);
});

test('the client reports RELAY_UNAVAILABLE, with the reason, when no relay answers', async (t) => {
  const dir = newDirectory();
  const a = addTwin(dir, 1);
  const client = new RelayClient({
    url: 'ws://127.0.0.1:1',
    identity: a.identity,
    twin: 1,
    directory: dir,
    dataDir: tempDir(t),
    reconnect: { minDelayMs: 10, maxDelayMs: 20 },
  });
  t.after(() => client.close());
  await assert.rejects(client.ready(300), {
    code: 'RELAY_UNAVAILABLE',
    message: /cannot be reached/,
  });
  await assert.rejects(client.send(1, 'note', {}, { timeoutMs: 100 }), {
    code: 'RELAY_UNAVAILABLE',
  });
});

test('a closed client refuses to send, and fails what was waiting, with RELAY_CLIENT_CLOSED', async (t) => {
  const dir = newDirectory();
  const a = addTwin(dir, 1);
  const client = new RelayClient({
    url: 'ws://127.0.0.1:1',
    identity: a.identity,
    twin: 1,
    directory: dir,
    dataDir: tempDir(t),
  });
  const waiting = assert.rejects(client.send(1, 'note', {}, { timeoutMs: 5000 }), {
    code: 'RELAY_CLIENT_CLOSED',
  });
  await client.close();
  await waiting;
  await assert.rejects(client.send(1, 'note', {}), { code: 'RELAY_CLIENT_CLOSED' });
});
