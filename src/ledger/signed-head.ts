import type { KeyObject } from 'node:crypto';
import { assertExactKeys, assertObject, fail } from '../core/assert.ts';
import { fromHex, toHex } from '../core/hex.ts';
import { rawPublicKey } from '../core/keys.ts';
import { sign, verify } from '../core/signing.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import { ledgerId } from './ledger-id.ts';
import { HASH_BYTES } from './merkle-hash.ts';

/*
 * A signed tree head: the ledger's statement "my log had `size` leaves with root `root` at
 * `time`", signed under vdc/head/v1 with the ledger's own key. It names the ledger (the
 * SHA-256 of its raw Ed25519 public key) so a head of one ledger never passes for another's.
 */

/** What the ledger signs. */
export interface HeadPayload {
  /** hex SHA-256 of the ledger's raw Ed25519 public key */
  ledger: string;
  size: number;
  /** hex MTH of the first `size` leaves */
  root: string;
  /** unix milliseconds */
  time: number;
}

/** A head with its Ed25519 signature (hex) over `vdc/head/v1 || 0x00 || canonical(payload)`. */
export interface SignedHead extends HeadPayload {
  sig: string;
}

function payloadOf(head: HeadPayload): HeadPayload {
  return { ledger: head.ledger, size: head.size, root: head.root, time: head.time };
}

/** Signs a head with the ledger's private key. */
export function signHead(
  head: { size: number; root: Uint8Array; time: number },
  ledgerKey: KeyObject,
): SignedHead {
  const payload: HeadPayload = {
    ledger: ledgerId(rawPublicKey(ledgerKey)),
    size: head.size,
    root: toHex(head.root),
    time: head.time,
  };
  return { ...payload, sig: toHex(sign(SIGNING_TAGS.head, payload, ledgerKey)) };
}

/**
 * Checks the shape of a head received as JSON, without checking its signature.
 * @throws VdcError HEAD_MALFORMED naming the field
 */
export function parseHead(value: unknown): SignedHead {
  assertObject(value, 'head', 'HEAD_MALFORMED');
  assertExactKeys(value, 'head', ['ledger', 'size', 'root', 'time', 'sig'], [], 'HEAD_MALFORMED');
  const { ledger, size, root, time, sig } = value;
  fromHex(ledger, 'head.ledger', HASH_BYTES, 'HEAD_MALFORMED');
  fromHex(root, 'head.root', HASH_BYTES, 'HEAD_MALFORMED');
  fromHex(sig, 'head.sig', 64, 'HEAD_MALFORMED');
  for (const [label, n] of [
    ['size', size],
    ['time', time],
  ] as const)
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
      fail('HEAD_MALFORMED', `'head.${label}' must be a non-negative integer, got ${String(n)}`);
  return {
    ledger: ledger as string,
    size: size as number,
    root: root as string,
    time: time as number,
    sig: sig as string,
  };
}

/**
 * Verifies a head against the pinned ledger key (32 raw bytes) and returns it, parsed.
 * @throws VdcError HEAD_MALFORMED, HEAD_WRONG_LEDGER (signed for or by another ledger),
 *   HEAD_SIGNATURE_INVALID
 */
export function verifyHead(value: unknown, ledgerPublicKey: Uint8Array): SignedHead {
  const head = parseHead(value);
  const expected = ledgerId(ledgerPublicKey);
  if (head.ledger !== expected)
    fail(
      'HEAD_WRONG_LEDGER',
      `the head names ledger ${head.ledger}, but the pinned ledger is ${expected}: it comes from another ledger`,
    );
  if (!verify(SIGNING_TAGS.head, payloadOf(head), Buffer.from(head.sig, 'hex'), ledgerPublicKey))
    fail(
      'HEAD_SIGNATURE_INVALID',
      `the head of size ${head.size} is not signed by the pinned ledger key ${toHex(ledgerPublicKey)}: do not trust it`,
    );
  return head;
}
