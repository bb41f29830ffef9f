/*
 * P8 PKI login: a login is a signed challenge bound to the audience, a server-issued
 * single-use nonce, issue and expiry times and the twin. Each attack below must be refused
 * with its own code and must not consume the nonce: the honest login that follows still works.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { ManualClock } from '../../src/core/clock.ts';
import { VdcError } from '../../src/core/errors.ts';
import { toHex } from '../../src/core/hex.ts';
import { SIGNING_TAGS } from '../../src/core/signing-tags.ts';
import { Identity, LoginVerifier, type SignedLogin, signLogin } from '../../src/identity/index.ts';

const AUDIENCE = 'https://dashboard.vdc.example';

function world() {
  const clock = new ManualClock();
  const alice = Identity.fromSeed(randomBytes(64));
  const mallory = Identity.fromSeed(randomBytes(64));
  const twins = new Map([
    [1, alice.signingPublicKey],
    [2, mallory.signingPublicKey],
  ]);
  const verifier = new LoginVerifier({
    audience: AUDIENCE,
    resolveTwinKey: (id) => twins.get(id),
    clock,
  });
  return { clock, alice, mallory, verifier };
}

/** Asserts the attack is refused with `code`, then that the honest login on the same offer still passes. */
async function refusedWithoutSideEffect(
  verifier: LoginVerifier,
  attack: unknown,
  code: string,
  honest?: SignedLogin,
): Promise<void> {
  await assert.rejects(
    verifier.verify(attack),
    (err: unknown) => err instanceof VdcError && err.code === code && err.message.length > 20,
  );
  if (honest) assert.equal((await verifier.verify(honest)).twin, honest.challenge.twin);
}

function resign(
  identity: Identity,
  login: SignedLogin,
  change: Partial<SignedLogin['challenge']>,
): SignedLogin {
  const challenge = { ...login.challenge, ...change };
  return { challenge, signature: toHex(identity.sign(SIGNING_TAGS.login, challenge)) };
}

describe('P8: login challenges', () => {
  test('refuses a login signed for another audience', async () => {
    const { clock, alice, verifier } = world();
    const offer = verifier.issue();
    const honest = signLogin(alice, 1, offer, { now: clock.now() });
    await refusedWithoutSideEffect(
      verifier,
      resign(alice, honest, { audience: 'https://evil.example' }),
      'LOGIN_AUDIENCE_MISMATCH',
      honest,
    );
  });

  test('refuses an expired login', async () => {
    const { clock, alice, verifier } = world();
    const login = signLogin(alice, 1, verifier.issue(), { now: clock.now(), lifetimeMs: 60_000 });
    clock.advance(60_000 + 31_000);
    await refusedWithoutSideEffect(verifier, login, 'LOGIN_EXPIRED');
  });

  test('refuses a login not yet valid', async () => {
    const { clock, alice, verifier } = world();
    const offer = verifier.issue();
    const honest = signLogin(alice, 1, offer, { now: clock.now() });
    const future = resign(alice, honest, {
      issuedAt: clock.now() + 120_000,
      expiresAt: clock.now() + 180_000,
    });
    await refusedWithoutSideEffect(verifier, future, 'LOGIN_NOT_YET_VALID', honest);
  });

  test('refuses a window longer than allowed', async () => {
    const { clock, alice, verifier } = world();
    const honest = signLogin(alice, 1, verifier.issue(), { now: clock.now() });
    const long = resign(alice, honest, { expiresAt: clock.now() + 24 * 3600_000 });
    await refusedWithoutSideEffect(verifier, long, 'LOGIN_LIFETIME_TOO_LONG', honest);
  });

  test('refuses a replayed login', async () => {
    const { clock, alice, verifier } = world();
    const login = signLogin(alice, 1, verifier.issue(), { now: clock.now() });
    await verifier.verify(login);
    await refusedWithoutSideEffect(verifier, login, 'LOGIN_NONCE_REPLAYED');
  });

  test('refuses a nonce this server never issued', async () => {
    const { clock, alice, verifier } = world();
    const other = new LoginVerifier({
      audience: AUDIENCE,
      resolveTwinKey: () => alice.signingPublicKey,
      clock,
    });
    const foreign = signLogin(alice, 1, other.issue(), { now: clock.now() });
    await refusedWithoutSideEffect(verifier, foreign, 'LOGIN_NONCE_UNKNOWN');
    const made = signLogin(
      alice,
      1,
      { audience: AUDIENCE, nonce: toHex(randomBytes(56)), expiresAt: clock.now() + 60_000 },
      { now: clock.now() },
    );
    await refusedWithoutSideEffect(verifier, made, 'LOGIN_NONCE_UNKNOWN');
  });

  test("refuses a login signed by a key that is not the twin's", async () => {
    const { clock, alice, mallory, verifier } = world();
    const offer = verifier.issue();
    const honest = signLogin(alice, 1, offer, { now: clock.now() });
    const impostor = signLogin(mallory, 1, offer, { now: clock.now() });
    await refusedWithoutSideEffect(verifier, impostor, 'LOGIN_SIGNATURE_INVALID', honest);
  });

  test('refuses a login whose fields were changed after signing', async () => {
    const { clock, alice, verifier } = world();
    const honest = signLogin(alice, 1, verifier.issue(), {
      now: clock.now(),
      statement: 'read only',
    });
    const tampered = { ...honest, challenge: { ...honest.challenge, statement: 'grant admin' } };
    await refusedWithoutSideEffect(verifier, tampered, 'LOGIN_SIGNATURE_INVALID', honest);
  });

  test('refuses a signature made for another purpose (a transaction) as a login', async () => {
    const { clock, alice, verifier } = world();
    const honest = signLogin(alice, 1, verifier.issue(), { now: clock.now() });
    const crossTag = {
      challenge: honest.challenge,
      signature: toHex(alice.sign(SIGNING_TAGS.tx, honest.challenge)),
    };
    await refusedWithoutSideEffect(verifier, crossTag, 'LOGIN_SIGNATURE_INVALID', honest);
  });

  test('refuses an unknown twin', async () => {
    const { clock, alice, verifier } = world();
    const honest = signLogin(alice, 1, verifier.issue(), { now: clock.now() });
    await refusedWithoutSideEffect(
      verifier,
      resign(alice, honest, { twin: 99 }),
      'LOGIN_TWIN_UNKNOWN',
      honest,
    );
  });

  test('refuses malformed logins', async () => {
    const { clock, alice, verifier } = world();
    const honest = signLogin(alice, 1, verifier.issue(), { now: clock.now() });
    const bad: unknown[] = [
      null,
      'login',
      {},
      { challenge: honest.challenge },
      { ...honest, extra: 1 },
      { ...honest, signature: honest.signature.slice(2) },
      { ...honest, signature: honest.signature.toUpperCase() },
      { ...honest, challenge: { ...honest.challenge, twin: '1' } },
      { ...honest, challenge: { ...honest.challenge, twin: 0 } },
      { ...honest, challenge: { ...honest.challenge, issuedAt: 1.5 } },
      { ...honest, challenge: { ...honest.challenge, admin: true } },
      { ...honest, challenge: { ...honest.challenge, statement: 'x'.repeat(10_000) } },
    ];
    for (const attack of bad) await refusedWithoutSideEffect(verifier, attack, 'LOGIN_MALFORMED');
    assert.equal((await verifier.verify(honest)).twin, 1);
  });
});
