import {
  assertExactKeys,
  assertInteger,
  assertObject,
  assertString,
  fail,
} from '../core/assert.ts';
import { VdcError } from '../core/errors.ts';
import { fromHex, toHex } from '../core/hex.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import type { Identity } from './identity.ts';

/*
 * P8: a login is a signed statement bound to one audience (the server being logged into),
 * one server-issued nonce, a time window and the twin logging in. Signed under vdc/login/v1,
 * so no other VDC signature can be passed off as a login. Times are Unix milliseconds.
 */

export interface LoginChallenge {
  audience: string;
  twin: number;
  nonce: string;
  issuedAt: number;
  expiresAt: number;
  statement: string;
}

/** What a server hands out: the audience to sign for and a single-use nonce. */
export interface LoginOffer {
  audience: string;
  nonce: string;
  expiresAt: number;
}

export interface SignedLogin {
  challenge: LoginChallenge;
  signature: string;
}

export const MAX_AUDIENCE_LENGTH = 256;
export const MAX_STATEMENT_LENGTH = 256;
export const MAX_TWIN_ID = 2 ** 48;
/** 9999-12-31T23:59:59.999Z: later times cannot be printed as dates. */
export const MAX_TIME_MS = 253_402_300_799_999;

function malformed(err: unknown): never {
  throw new VdcError('LOGIN_MALFORMED', `login is malformed: ${(err as Error).message}`, {
    cause: err,
  });
}

/**
 * Checks the shape of a login taken from the network.
 * @throws VdcError LOGIN_MALFORMED naming the field
 */
export function parseSignedLogin(value: unknown): SignedLogin & { signatureBytes: Buffer } {
  try {
    assertObject(value, 'login');
    assertExactKeys(value, 'login', ['challenge', 'signature']);
    const c = value['challenge'];
    assertObject(c, 'challenge');
    assertExactKeys(c, 'challenge', [
      'audience',
      'twin',
      'nonce',
      'issuedAt',
      'expiresAt',
      'statement',
    ]);
    assertString(c['audience'], 'challenge.audience', { min: 1, max: MAX_AUDIENCE_LENGTH });
    assertInteger(c['twin'], 'challenge.twin', 1, MAX_TWIN_ID);
    assertString(c['nonce'], 'challenge.nonce', { min: 1, max: 256, pattern: /^[0-9a-f]+$/ });
    assertInteger(c['issuedAt'], 'challenge.issuedAt', 0, MAX_TIME_MS);
    assertInteger(c['expiresAt'], 'challenge.expiresAt', 0, MAX_TIME_MS);
    assertString(c['statement'], 'challenge.statement', { max: MAX_STATEMENT_LENGTH });
    const signatureBytes = fromHex(value['signature'], 'signature', 64);
    return {
      challenge: c as unknown as LoginChallenge,
      signature: value['signature'] as string,
      signatureBytes,
    };
  } catch (err) {
    malformed(err);
  }
}

/**
 * The client side: answers a server's offer by signing a challenge for `twin`.
 * @throws VdcError LOGIN_MALFORMED when the offer or the statement is out of bounds
 */
export function signLogin(
  identity: Identity,
  twin: number,
  offer: LoginOffer,
  opts: { now: number; lifetimeMs?: number; statement?: string },
): SignedLogin {
  const expiresAt = Math.min(offer.expiresAt, opts.now + (opts.lifetimeMs ?? 5 * 60_000));
  const challenge: LoginChallenge = {
    audience: offer.audience,
    twin,
    nonce: offer.nonce,
    issuedAt: opts.now,
    expiresAt,
    statement: opts.statement ?? `log in to ${offer.audience}`,
  };
  const signed = { challenge, signature: toHex(identity.sign(SIGNING_TAGS.login, challenge)) };
  parseSignedLogin(signed);
  if (expiresAt <= opts.now)
    fail(
      'LOGIN_EXPIRED',
      `the offer expired at ${new Date(offer.expiresAt).toISOString()}: ask the server for a new one`,
    );
  return signed;
}
