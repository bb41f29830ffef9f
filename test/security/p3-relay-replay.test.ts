import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VdcError } from '../../src/core/errors.ts';
import type { ReceivedMessage } from '../../src/relay/index.ts';
import {
  addTwin,
  connectTwin,
  newDirectory,
  startTestRelay,
  tempDir,
} from '../../src/relay/relay-test-kit.ts';

/*
 * The relay does not deduplicate (it holds nothing durable); the receiver does, and keeps
 * what it saw across its own restart.
 */

test('a replayed envelope is refused by the receiver, also after the receiver restarts', async (t) => {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir);
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const bobData = tempDir(t);
  const ca = await connectTwin(t, relay.url, alice, dir);

  const startBob = async () => {
    const cb = await connectTwin(t, relay.url, bob, dir, { dataDir: bobData });
    const got: ReceivedMessage[] = [];
    const refused: VdcError[] = [];
    let notify = () => {};
    cb.onMessage((m) => {
      got.push(m);
      notify();
    });
    cb.onRefused((e) => {
      refused.push(e);
      notify();
    });
    const settled = (n: number) =>
      new Promise<void>((resolve) => {
        notify = () => got.length + refused.length >= n && resolve();
        notify();
      });
    return { cb, got, refused, settled };
  };

  let bob1 = await startBob();
  const envelope = ca.seal(2, 'note', { pay: 100 });
  await ca.sendEnvelope(envelope);
  await bob1.settled(1);
  await ca.sendEnvelope(envelope); // replayed while Bob runs
  await bob1.settled(2);
  assert.deepEqual(
    bob1.got.map((m) => m.body),
    [{ pay: 100 }],
  );
  assert.deepEqual(
    bob1.refused.map((e) => e.code),
    ['ENVELOPE_REPLAYED'],
  );
  await bob1.cb.close();

  bob1 = await startBob(); // the same data dir: a restart
  assert.equal(await ca.sendEnvelope(envelope), 'delivered');
  await bob1.settled(1);
  assert.deepEqual(
    bob1.refused.map((e) => e.code),
    ['ENVELOPE_REPLAYED'],
  );
  assert.deepEqual(bob1.got, [], 'nothing reached the application');
});
