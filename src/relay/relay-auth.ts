import { randomBytes } from 'node:crypto';
import { fail } from '../core/assert.ts';
import { verify } from '../core/signing.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import type { Identity } from '../identity/index.ts';
import type { AuthFrame, ChallengeFrame, RelayRole } from './relay-frames.ts';

/*
 * Relay login (docs/relay.md): the relay sends a fresh nonce naming itself and its ledger;
 * the twin signs `{relay, ledger, nonce, twin, role, url}` under vdc/relay/v1. Because the
 * payload names the relay and the nonce is single-use, a login captured at one relay can
 * not be replayed there later nor at another relay, and a signature made for any other
 * purpose does not verify as a login.
 */

export function newChallenge(relay: string, ledger: string): ChallengeFrame {
  return { type: 'challenge', relay, ledger, nonce: randomBytes(32).toString('hex') };
}

export interface LoginPayload {
  relay: string;
  ledger: string;
  nonce: string;
  twin: number;
  role: RelayRole;
  url: string | null;
}

export function loginPayload(
  challenge: ChallengeFrame,
  auth: Omit<AuthFrame, 'type' | 'signature'>,
): LoginPayload {
  return {
    relay: challenge.relay,
    ledger: challenge.ledger,
    nonce: challenge.nonce,
    twin: auth.twin,
    role: auth.role,
    url: auth.url,
  };
}

/** The auth frame answering `challenge` for twin `twin`. */
export function signLogin(
  identity: Pick<Identity, 'sign'>,
  challenge: ChallengeFrame,
  twin: number,
  role: RelayRole = 'twin',
  url: string | null = null,
): AuthFrame {
  const signature = identity.sign(SIGNING_TAGS.relay, loginPayload(challenge, { twin, role, url }));
  return { type: 'auth', twin, role, url, signature: signature.toString('hex') };
}

/**
 * @throws VdcError RELAY_AUTH_FAILED when the signature is not the twin's over this challenge
 */
export function assertLogin(challenge: ChallengeFrame, auth: AuthFrame, signingKey: Buffer): void {
  let ok = false;
  try {
    ok = verify(
      SIGNING_TAGS.relay,
      loginPayload(challenge, auth),
      Buffer.from(auth.signature, 'hex'),
      signingKey,
    );
  } catch (cause) {
    fail('RELAY_AUTH_FAILED', `the login of twin ${auth.twin} cannot be checked`, cause);
  }
  if (!ok)
    fail(
      'RELAY_AUTH_FAILED',
      `the login of twin ${auth.twin} is not signed by its key over this relay's challenge: check the identity and the relay URL`,
    );
}
