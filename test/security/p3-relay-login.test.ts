import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SIGNING_TAGS } from '../../src/core/signing-tags.ts';
import { loginPayload, signLogin } from '../../src/relay/relay-auth.ts';
import type { AuthFrame, ChallengeFrame } from '../../src/relay/relay-frames.ts';
import {
  addTwin,
  connectTwin,
  newDirectory,
  rawConnect,
  startTestRelay,
  type TestTwin,
} from '../../src/relay/relay-test-kit.ts';

/*
 * A connection gets nothing until it proves, by signing this relay's fresh challenge under
 * vdc/relay/v1, that it holds the key the ledger lists for the twin it names. Each refused
 * login leaves the envelope queued for Bob where it was, and Bob still receives it.
 */

async function setup(t: { after: (fn: () => unknown) => void }, limits = {}) {
  const dir = newDirectory();
  const relay = await startTestRelay(t, dir, { limits });
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const mallory = addTwin(dir, 3);
  const ca = await connectTwin(t, relay.url, alice, dir);
  assert.equal((await ca.send(2, 'note', 'for bob only')).status, 'queued');
  return { dir, relay, alice, bob, mallory };
}

/** Tries a login and returns what came back: the frames after the challenge and the close code. */
async function attempt(
  t: { after: (fn: () => unknown) => void },
  url: string,
  answer: (c: ChallengeFrame) => unknown,
) {
  const c = await rawConnect(t, url);
  const challenge = (await c.next()) as unknown as ChallengeFrame;
  c.send(answer(challenge));
  const code = await c.closed;
  return { frames: c.frames.slice(1), code };
}

function refusedWith(
  result: { frames: Record<string, unknown>[]; code: number },
  code: string,
): void {
  assert.equal(result.frames.length, 1, `exactly one answer: ${JSON.stringify(result.frames)}`);
  assert.deepEqual([result.frames[0]!['type'], result.frames[0]!['code']], ['error', code]);
  assert.equal(result.code, 1008);
}

async function bobStillGetsIt(
  t: { after: (fn: () => unknown) => void },
  s: {
    relay: { url: string; stats(): { queue: { envelopes: number } } };
    dir: ReturnType<typeof newDirectory>;
    bob: TestTwin;
  },
) {
  assert.equal(s.relay.stats().queue.envelopes, 1, 'the envelope still waits');
  const cb = await connectTwin(t, s.relay.url, s.bob, s.dir);
  const msg = await new Promise<{ body: unknown }>((resolve) => cb.onMessage(resolve));
  assert.equal(msg.body, 'for bob only');
}

test('a connection that sends before logging in is refused with RELAY_AUTH_REQUIRED', async (t) => {
  const s = await setup(t);
  refusedWith(
    await attempt(t, s.relay.url, () => ({ type: 'send', envelope: {} })),
    'RELAY_AUTH_REQUIRED',
  );
  await bobStillGetsIt(t, s);
});

test("a login signed by another key than the twin's is refused with RELAY_AUTH_FAILED", async (t) => {
  const s = await setup(t);
  refusedWith(
    await attempt(t, s.relay.url, (c) => signLogin(s.mallory.identity, c, 2)),
    'RELAY_AUTH_FAILED',
  );
  await bobStillGetsIt(t, s);
});

test('a login for a twin the ledger does not know is refused with RELAY_TWIN_UNKNOWN', async (t) => {
  const s = await setup(t);
  refusedWith(
    await attempt(t, s.relay.url, (c) => signLogin(s.mallory.identity, c, 77)),
    'RELAY_TWIN_UNKNOWN',
  );
  await bobStillGetsIt(t, s);
});

test('a login signed for another relay, another ledger, or another purpose is refused', async (t) => {
  const s = await setup(t);
  const wrong: [string, (c: ChallengeFrame) => AuthFrame][] = [
    ['relay', (c) => signLogin(s.bob.identity, { ...c, relay: 'ws://127.0.0.1:1' }, 2)],
    ['ledger', (c) => signLogin(s.bob.identity, { ...c, ledger: 'bb'.repeat(32) }, 2)],
    [
      'tag',
      (c) => ({
        type: 'auth',
        twin: 2,
        role: 'twin',
        url: null,
        signature: s.bob.identity
          .sign(SIGNING_TAGS.login, loginPayload(c, { twin: 2, role: 'twin', url: null }))
          .toString('hex'),
      }),
    ],
  ];
  for (const [what, answer] of wrong) {
    const r = await attempt(t, s.relay.url, answer);
    assert.equal(r.frames[0]?.['code'], 'RELAY_AUTH_FAILED', what);
  }
  await bobStillGetsIt(t, s);
});

test('a login captured on one connection does not log in another (fresh nonce each time)', async (t) => {
  const s = await setup(t);
  const first = await rawConnect(t, s.relay.url);
  const captured = signLogin(s.bob.identity, (await first.next()) as unknown as ChallengeFrame, 2);
  first.ws.terminate(); // the eavesdropper holds the login but Bob never used it
  refusedWith(await attempt(t, s.relay.url, () => captured), 'RELAY_AUTH_FAILED');
  await bobStillGetsIt(t, s);
});

test('a connection that never logs in is closed with RELAY_AUTH_TIMEOUT', async (t) => {
  const s = await setup(t, { authTimeoutMs: 100 });
  const c = await rawConnect(t, s.relay.url);
  const code = await c.closed;
  assert.deepEqual(
    c.frames.map((f) => f['type']),
    ['challenge', 'error'],
  );
  assert.equal(c.frames[1]!['code'], 'RELAY_AUTH_TIMEOUT');
  assert.equal(code, 1008);
  await bobStillGetsIt(t, s);
});

test('an ordinary twin cannot log in as a relay (RELAY_PEER_REFUSED)', async (t) => {
  const s = await setup(t);
  refusedWith(
    await attempt(t, s.relay.url, (c) =>
      signLogin(s.mallory.identity, c, 3, 'relay', 'ws://127.0.0.1:9'),
    ),
    'RELAY_PEER_REFUSED',
  );
  await bobStillGetsIt(t, s);
});
