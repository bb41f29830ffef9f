import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRelayServer } from '../../src/relay/index.ts';
import { addTwin, connectTwin, newDirectory, quiet } from '../../src/relay/relay-test-kit.ts';

test('clients reconnect after the relay restarts, and sends made meanwhile get through', async (t) => {
  const dir = newDirectory();
  let relay = await startRelayServer({ host: '127.0.0.1', port: 0, directory: dir, logger: quiet });
  const { port, url } = relay;
  t.after(() => relay.close());
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const ca = await connectTwin(t, url, alice, dir);
  const cb = await connectTwin(t, url, bob, dir);
  cb.handle((m) => ({ echo: m.body }));
  assert.deepEqual(await ca.request(2, 'before'), { echo: 'before' });

  await relay.close();
  // Sent while the relay is down: held by the client, within its timeout.
  const during = ca.request(2, 'during', { timeoutMs: 10_000 });
  relay = await startRelayServer({ host: '127.0.0.1', port, directory: dir, logger: quiet });
  assert.deepEqual(await during, { echo: 'during' });
  assert.ok(ca.counters.reconnects >= 1 && cb.counters.reconnects >= 1, 'both reconnected');
  assert.deepEqual(await ca.request(2, 'after'), { echo: 'after' });
});

test('a send waiting for a relay that does not come back fails with RELAY_UNAVAILABLE', async (t) => {
  const dir = newDirectory();
  const relay = await startRelayServer({
    host: '127.0.0.1',
    port: 0,
    directory: dir,
    logger: quiet,
  });
  const alice = addTwin(dir, 1);
  addTwin(dir, 2);
  const ca = await connectTwin(t, relay.url, alice, dir);
  await relay.close();
  await assert.rejects(ca.send(2, 'note', 'x', { timeoutMs: 300 }), {
    code: 'RELAY_UNAVAILABLE',
    message: /not logged in/,
  });
});
