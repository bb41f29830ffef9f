import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { fail } from '../core/assert.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { toHex } from '../core/hex.ts';
import { verify } from '../core/signing.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import { type LoginOffer, MAX_AUDIENCE_LENGTH, parseSignedLogin } from './login-challenge.ts';

/*
 * The server side of P8. Nonces are stateless until used: `random(16) || expiry(8) ||
 * HMAC(key, audience || random || expiry)`, so this verifier recognises its own nonces
 * without storing what it handed out (issuing costs no memory, which an unauthenticated
 * caller could otherwise exhaust). Used nonces are remembered until they expire, so each
 * is accepted once. The HMAC key lives only in memory: a restart invalidates outstanding
 * nonces, which keeps "used once" true across restarts.
 */

export interface LoginVerifierOptions {
  /** What logins must name, e.g. the dashboard's origin. */
  audience: string;
  /** The twin's current Ed25519 public key in the caller's verified view, or undefined. */
  resolveTwinKey: (twin: number) => Uint8Array | undefined | Promise<Uint8Array | undefined>;
  clock?: Clock;
  /** How long an issued nonce can be used. */
  nonceTtlMs?: number;
  /** Clock difference tolerated between client and server. */
  skewMs?: number;
  /** Longest window a signed challenge may claim. */
  maxLifetimeMs?: number;
}

export interface VerifiedLogin {
  twin: number;
  statement: string;
  expiresAt: number;
}

const RANDOM_BYTES = 16;
const NONCE_BYTES = RANDOM_BYTES + 8 + 32;

export class LoginVerifier {
  readonly audience: string;
  readonly #key = randomBytes(32);
  readonly #used = new Map<string, number>();
  readonly #resolveTwinKey: LoginVerifierOptions['resolveTwinKey'];
  readonly #clock: Clock;
  readonly #nonceTtlMs: number;
  readonly #skewMs: number;
  readonly #maxLifetimeMs: number;

  constructor(opts: LoginVerifierOptions) {
    if (opts.audience.length === 0 || opts.audience.length > MAX_AUDIENCE_LENGTH)
      fail('INPUT_INVALID', `'audience' must be 1..${MAX_AUDIENCE_LENGTH} characters`);
    this.audience = opts.audience;
    this.#resolveTwinKey = opts.resolveTwinKey;
    this.#clock = opts.clock ?? systemClock;
    this.#nonceTtlMs = opts.nonceTtlMs ?? 5 * 60_000;
    this.#skewMs = opts.skewMs ?? 30_000;
    this.#maxLifetimeMs = opts.maxLifetimeMs ?? 10 * 60_000;
  }

  #mac(random: Buffer, expiry: Buffer): Buffer {
    return createHmac('sha256', this.#key)
      .update(this.audience)
      .update(random)
      .update(expiry)
      .digest();
  }

  /** A fresh offer: the audience to sign for and a nonce valid for `nonceTtlMs`. */
  issue(): LoginOffer {
    const expiresAt = this.#clock.now() + this.#nonceTtlMs;
    const random = randomBytes(RANDOM_BYTES);
    const expiry = Buffer.alloc(8);
    expiry.writeBigUInt64BE(BigInt(expiresAt));
    return {
      audience: this.audience,
      nonce: toHex(Buffer.concat([random, expiry, this.#mac(random, expiry)])),
      expiresAt,
    };
  }

  /** Expiry of a nonce this verifier issued, or undefined for any other string. */
  #nonceExpiry(nonce: string): number | undefined {
    if (nonce.length !== NONCE_BYTES * 2) return undefined;
    const bytes = Buffer.from(nonce, 'hex');
    const random = bytes.subarray(0, RANDOM_BYTES);
    const expiry = bytes.subarray(RANDOM_BYTES, RANDOM_BYTES + 8);
    if (!timingSafeEqual(this.#mac(random, expiry), bytes.subarray(RANDOM_BYTES + 8)))
      return undefined;
    return Number(expiry.readBigUInt64BE());
  }

  #prune(now: number): void {
    for (const [nonce, expiresAt] of this.#used) if (expiresAt < now) this.#used.delete(nonce);
  }

  /**
   * Checks a signed login, in order: shape, audience, time window, nonce (issued here,
   * unexpired, unused), twin, signature; then marks the nonce used.
   * @throws VdcError LOGIN_MALFORMED, LOGIN_AUDIENCE_MISMATCH, LOGIN_NOT_YET_VALID,
   *   LOGIN_EXPIRED, LOGIN_LIFETIME_TOO_LONG, LOGIN_NONCE_UNKNOWN, LOGIN_NONCE_REPLAYED,
   *   LOGIN_TWIN_UNKNOWN, LOGIN_SIGNATURE_INVALID
   */
  async verify(input: unknown): Promise<VerifiedLogin> {
    const { challenge, signatureBytes } = parseSignedLogin(input);
    const { audience, twin, nonce, issuedAt, expiresAt } = challenge;
    if (audience !== this.audience)
      fail(
        'LOGIN_AUDIENCE_MISMATCH',
        `this login is for ${JSON.stringify(audience)}, but this server is ${JSON.stringify(this.audience)}: sign a challenge for this server`,
      );
    const now = this.#clock.now();
    if (issuedAt > now + this.#skewMs)
      fail(
        'LOGIN_NOT_YET_VALID',
        `the login is issued at ${new Date(issuedAt).toISOString()}, in the future for this server: check your clock`,
      );
    if (expiresAt < now - this.#skewMs)
      fail(
        'LOGIN_EXPIRED',
        `the login expired at ${new Date(expiresAt).toISOString()}: sign a new challenge`,
      );
    if (expiresAt <= issuedAt || expiresAt - issuedAt > this.#maxLifetimeMs)
      fail(
        'LOGIN_LIFETIME_TOO_LONG',
        `a login may be valid for at most ${this.#maxLifetimeMs / 1000} s and must end after it starts`,
      );
    const nonceExpiry = this.#nonceExpiry(nonce);
    if (nonceExpiry === undefined)
      fail(
        'LOGIN_NONCE_UNKNOWN',
        'the nonce was not issued by this server (or the server restarted since): ask for a new challenge',
      );
    if (nonceExpiry < now - this.#skewMs)
      fail(
        'LOGIN_EXPIRED',
        `the nonce expired at ${new Date(nonceExpiry).toISOString()}: ask for a new challenge`,
      );
    if (this.#used.has(nonce))
      fail(
        'LOGIN_NONCE_REPLAYED',
        'this nonce was already used to log in: ask for a new challenge',
      );
    const key = await this.#resolveTwinKey(twin);
    if (key === undefined)
      fail(
        'LOGIN_TWIN_UNKNOWN',
        `twin ${twin} is not known to this server: register the twin on the ledger first`,
      );
    // Re-check after the await: two logins racing with one nonce must not both pass.
    if (this.#used.has(nonce))
      fail(
        'LOGIN_NONCE_REPLAYED',
        'this nonce was already used to log in: ask for a new challenge',
      );
    if (!verify(SIGNING_TAGS.login, challenge, signatureBytes, key))
      fail(
        'LOGIN_SIGNATURE_INVALID',
        `the signature does not verify under twin ${twin}'s key: sign the challenge with that twin's identity`,
      );
    this.#prune(now);
    this.#used.set(nonce, nonceExpiry + this.#skewMs);
    return { twin, statement: challenge.statement, expiresAt };
  }
}
