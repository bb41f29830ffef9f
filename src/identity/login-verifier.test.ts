import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { VdcError } from '../core/errors.ts';
import { Identity } from './identity.ts';
import { signLogin } from './login-challenge.ts';
import { LoginVerifier } from './login-verifier.ts';

const code = (c: string) => (err: unknown) => err instanceof VdcError && err.code === c;

function setup() {
  const clock = new ManualClock();
  const alice = Identity.fromSeed(randomBytes(64));
  const twins = new Map([[1, alice.signingPublicKey]]);
  const verifier = new LoginVerifier({
    audience: 'https://dash.example',
    resolveTwinKey: (id) => twins.get(id),
    clock,
  });
  return { clock, alice, verifier, twins };
}

describe('login verifier', () => {
  test('accepts a fresh login once and returns the twin', async () => {
    const { clock, alice, verifier } = setup();
    const login = signLogin(alice, 1, verifier.issue(), {
      now: clock.now(),
      statement: 'open dashboard',
    });
    assert.deepEqual(await verifier.verify(login), {
      twin: 1,
      statement: 'open dashboard',
      expiresAt: login.challenge.expiresAt,
    });
    await assert.rejects(verifier.verify(login), code('LOGIN_NONCE_REPLAYED'));
  });

  test('tolerates small clock skew in both directions', async () => {
    const { clock, alice, verifier } = setup();
    const login = signLogin(alice, 1, verifier.issue(), {
      now: clock.now() + 20_000,
      lifetimeMs: 60_000,
    });
    assert.equal((await verifier.verify(login)).twin, 1);
  });

  test('two logins racing with one nonce: exactly one passes', async () => {
    const { clock, alice, verifier } = setup();
    const login = signLogin(alice, 1, verifier.issue(), { now: clock.now() });
    const results = await Promise.allSettled([
      verifier.verify(login),
      verifier.verify(structuredClone(login)),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  });

  test('a restarted verifier does not know earlier nonces', async () => {
    const { clock, alice, verifier, twins } = setup();
    const login = signLogin(alice, 1, verifier.issue(), { now: clock.now() });
    const restarted = new LoginVerifier({
      audience: verifier.audience,
      resolveTwinKey: (id) => twins.get(id),
      clock,
    });
    await assert.rejects(restarted.verify(login), code('LOGIN_NONCE_UNKNOWN'));
  });

  test('the nonce itself expires', async () => {
    const { clock, alice, verifier } = setup();
    const offer = verifier.issue();
    clock.advance(6 * 60_000);
    const login = signLogin(
      alice,
      1,
      { ...offer, expiresAt: clock.now() + 60_000 },
      { now: clock.now() },
    );
    await assert.rejects(verifier.verify(login), code('LOGIN_EXPIRED'));
  });
});
