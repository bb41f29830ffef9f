import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import type { VdcError } from '../../src/core/errors.ts';
import { RelayClient } from '../../src/relay/index.ts';
import {
  addTwin,
  connectTwin,
  newDirectory,
  startRelayWithTwin,
  tempDir,
} from '../../src/relay/relay-test-kit.ts';

/*
 * Twins that list two relays stay logged in to both (docs/relay.md, "Several relays"):
 * sends go through the first that is up; when it goes away, what it carried unanswered
 * goes through the other and every request still gets its answer; when it comes back,
 * the clients log in to it again. An envelope arriving through both is taken once.
 */

type Cleanup = { after: (fn: () => unknown) => void };

async function twoRelays(t: Cleanup) {
  const dir = newDirectory();
  const r1 = await startRelayWithTwin(t, dir, 100);
  const r2 = await startRelayWithTwin(t, dir, 101);
  const alice = addTwin(dir, 1, [r1.url, r2.url]);
  const bob = addTwin(dir, 2, [r1.url, r2.url]);
  return { dir, r1, r2, alice, bob };
}

async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(done(), what);
}

test('a client logs in to every relay given, and sends through the first', async (t) => {
  const s = await twoRelays(t);
  const urls = [s.r1.url, s.r2.url];
  const ca = await connectTwin(t, '', s.alice, s.dir, { urls });
  const cb = await connectTwin(t, '', s.bob, s.dir, { urls });
  cb.handle((m) => ({ echo: m.body }));
  assert.deepEqual(ca.urls, urls);
  assert.deepEqual(
    ca.relays().map((r) => r.connected),
    [true, true],
  );
  assert.deepEqual(s.r1.connectedTwins().sort(), [1, 2]);
  assert.deepEqual(s.r2.connectedTwins().sort(), [1, 2]);
  assert.deepEqual(await ca.request(2, 'hi'), { echo: 'hi' });
  assert.deepEqual([s.r1.stats().delivered, s.r2.stats().delivered], [2, 0]);
});

test('a client reads its relays from the ledger, and follows when they change', async (t) => {
  const s = await twoRelays(t);
  const ca = await connectTwin(t, '', s.alice, s.dir, { relaysFromDirectory: true });
  assert.deepEqual(ca.urls, [s.r1.url, s.r2.url]);
  assert.equal(ca.url, s.r1.url);
  addTwin(s.dir, 1, [s.r2.url]); // Alice drops relay 1 on the ledger
  ca.refreshRelays();
  assert.deepEqual(ca.urls, [s.r2.url]);
  await until('relay 1 forgets Alice', () => !s.r1.connectedTwins().includes(1));
  assert.deepEqual(s.r2.connectedTwins().sort(), [1]);
});

test('a client given no relay, and not reading them from the ledger, is refused at once', (t) => {
  const dir = newDirectory();
  const alice = addTwin(dir, 1);
  assert.throws(
    () =>
      new RelayClient({ identity: alice.identity, twin: 1, directory: dir, dataDir: tempDir(t) }),
    { code: 'RELAY_CLIENT_NO_RELAYS' },
  );
});

test('when a relay goes away mid-conversation, requests complete through the other; when it returns, clients log in again', async (t) => {
  const s = await twoRelays(t);
  const urls = [s.r1.url, s.r2.url];
  const ca = await connectTwin(t, '', s.alice, s.dir, { urls });
  const cb = await connectTwin(t, '', s.bob, s.dir, { urls });
  let handled = 0;
  cb.handle(async (m) => {
    handled++;
    // Answers take a moment, so that relay 1 goes away with requests and answers on it.
    await new Promise((r) => setTimeout(r, 5));
    return { echo: m.body };
  });
  assert.deepEqual(await ca.request(2, 'before'), { echo: 'before' });

  const many = Array.from({ length: 40 }, (_, i) => ca.request(2, i, { timeoutMs: 20_000 }));
  await until('the conversation is under way', () => handled >= 5);
  const r1Port = s.r1.port;
  await s.r1.close();
  assert.deepEqual(
    await Promise.all(many),
    Array.from({ length: 40 }, (_, i) => ({ echo: i })),
  );
  assert.ok(s.r2.stats().delivered > 0, 'relay 2 carried the rest');
  assert.equal(handled, 41, 'each request was handled once');
  assert.deepEqual(await ca.request(2, 'during'), { echo: 'during' });

  // Relay 1 comes back where it was; both clients log in to it again, and prefer it.
  const back = await startRelayWithTwin(t, s.dir, 100, { port: r1Port });
  await Promise.all([ca.ready(10_000, { all: true }), cb.ready(10_000, { all: true })]);
  assert.ok(ca.counters.reconnects >= 1 && cb.counters.reconnects >= 1);
  assert.deepEqual(back.connectedTwins().sort(), [1, 2]);
  assert.deepEqual(await ca.request(2, 'after'), { echo: 'after' });
  assert.equal(back.stats().delivered, 2, 'request and response went through relay 1 again');
});

test('an envelope that arrives through both relays is taken once', async (t) => {
  const s = await twoRelays(t);
  // Alice sends one sealed envelope through each relay, as a resend after failover would.
  const a1 = await connectTwin(t, s.r1.url, s.alice, s.dir);
  const a2 = await connectTwin(t, s.r2.url, s.alice, s.dir);
  const cb = await connectTwin(t, '', s.bob, s.dir, { urls: [s.r1.url, s.r2.url] });
  const got: unknown[] = [];
  const refused: VdcError[] = [];
  cb.onMessage((m) => got.push(m.body));
  cb.onRefused((e) => refused.push(e));
  const envelope = a1.seal(2, 'note', 'once');
  assert.equal(await a1.sendEnvelope(envelope), 'delivered');
  assert.equal(await a2.sendEnvelope(envelope), 'delivered');
  await until('both copies arrived', () => got.length + refused.length >= 2);
  assert.deepEqual(got, ['once']);
  assert.deepEqual(
    refused.map((e) => e.code),
    ['ENVELOPE_REPLAYED'],
  );
  assert.equal(cb.counters.duplicates, 1);
});

test('a request whose answer was lost is answered again from the response kept, not handled twice', async (t) => {
  const s = await twoRelays(t);
  const ca = await connectTwin(t, s.r1.url, s.alice, s.dir);
  const cb = await connectTwin(t, s.r1.url, s.bob, s.dir);
  let handled = 0;
  cb.handle((m) => {
    handled++;
    return { n: handled, echo: m.body };
  });
  // Alice's request reaches Bob twice (as when a relay dropped after delivering it); Alice
  // sees the first answer, the second copy makes Bob send the same response again.
  const request = ca.seal(2, 'request', 'x');
  const seen: unknown[] = [];
  const refused: string[] = [];
  ca.onMessage((m) => seen.push(m.body));
  ca.onRefused((e) => refused.push(e.code));
  await ca.sendEnvelope(request);
  await until('the answer came', () => seen.length === 1);
  await ca.sendEnvelope(request).catch(() => {});
  await until('the answer came again', () => refused.length === 1);
  assert.equal(handled, 1);
  assert.deepEqual(seen, [{ ok: true, result: { n: 1, echo: 'x' } }]);
  assert.deepEqual(refused, ['ENVELOPE_REPLAYED'], 'the same response, dropped as a duplicate');
  assert.equal(cb.counters.resentResponses, 1);
});

test('one relay named two ways (with and without the root slash) gets one login', async (t) => {
  const s = await twoRelays(t);
  const ca = await connectTwin(t, '', s.alice, s.dir, {
    urls: [`${s.r1.url}/`, s.r1.url],
    relaysFromDirectory: true,
  });
  assert.deepEqual(ca.urls, [s.r1.url, s.r2.url]);
  assert.equal(s.r1.stats().connections, 1);
  assert.deepEqual(
    ca.relays().map((r) => [r.connected, r.reconnects]),
    [
      [true, 0],
      [true, 0],
    ],
  );
});

/**
 * A relay in a process of its own, so that the test can kill it (SIGKILL: no close frames,
 * no goodbye). Its view of the twins is built the same way, from the same names.
 */
async function relayProcess(
  t: Cleanup,
  port: number,
): Promise<{ url: string; child: ChildProcess }> {
  const index = new URL('../../src/relay/index.ts', import.meta.url).href;
  const kit = new URL('../../src/relay/relay-test-kit.ts', import.meta.url).href;
  const code = `
    import { startRelayServer } from ${JSON.stringify(index)};
    import { addTwin, newDirectory, quiet } from ${JSON.stringify(kit)};
    const dir = newDirectory();
    addTwin(dir, 1);
    addTwin(dir, 2);
    const relay = await startRelayServer({ host: '127.0.0.1', port: ${port}, directory: dir, logger: quiet });
    console.log('listening ' + relay.url);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  for await (const chunk of child.stdout) {
    out += String(chunk);
    const m = /listening (\S+)\n/.exec(out);
    if (m) return { url: m[1]!, child };
  }
  throw new Error(`the relay process ended before listening: ${out}`);
}

test('when a relay process is killed mid-conversation, requests complete through the other', async (t) => {
  const dir = newDirectory();
  const p1 = await relayProcess(t, 0);
  const p2 = await relayProcess(t, 0);
  const urls = [p1.url, p2.url];
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const ca = await connectTwin(t, '', alice, dir, { urls });
  const cb = await connectTwin(t, '', bob, dir, { urls });
  let handled = 0;
  cb.handle(async (m) => {
    handled++;
    await new Promise((r) => setTimeout(r, 5));
    return { echo: m.body };
  });
  const many = Array.from({ length: 40 }, (_, i) => ca.request(2, i, { timeoutMs: 20_000 }));
  await until('the conversation is under way', () => handled >= 5);
  p1.child.kill('SIGKILL');
  await once(p1.child, 'exit');
  assert.deepEqual(
    await Promise.all(many),
    Array.from({ length: 40 }, (_, i) => ({ echo: i })),
  );
  assert.equal(handled, 40, 'each request was handled once');
  assert.deepEqual(
    ca.relays().map((r) => r.connected),
    [false, true],
  );

  const port = Number(new URL(p1.url).port);
  await relayProcess(t, port);
  await Promise.all([ca.ready(10_000, { all: true }), cb.ready(10_000, { all: true })]);
  assert.deepEqual(await ca.request(2, 'after'), { echo: 'after' });
});
