import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/*
 * 0-db's SECURE authentication: `AUTH SECURE CHALLENGE` returns 8 random bytes as 16 hex
 * characters; the client proves the password with hex(sha1("<challenge>:<password>")) in
 * `AUTH SECURE <hash>` or `SELECT ns SECURE <hash>`. SHA-1 is 0-db's choice, kept for
 * compatibility; the challenge makes each proof single-use.
 */

export function newChallenge(): string {
  return randomBytes(8).toString('hex');
}

export function secureHash(challenge: string, password: string): string {
  return createHash('sha1').update(`${challenge}:${password}`, 'utf8').digest('hex');
}

export function securePasswordMatches(challenge: string, password: string, given: Buffer): boolean {
  const expected = Buffer.from(secureHash(challenge, password), 'latin1');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Compares a plain password without leaking where it differs. */
export function passwordMatches(expected: string, given: Buffer): boolean {
  const e = createHash('sha256').update(expected, 'utf8').digest();
  const g = createHash('sha256').update(given).digest();
  return timingSafeEqual(e, g);
}
