import { assertExactKeys, assertObject, fail } from '../core/assert.ts';
import { canonicalBytes, type JsonValue } from '../core/canonical-json.ts';
import { parseJson } from '../core/strict-json.ts';
import { hashLeaf } from './merkle-hash.ts';

/*
 * A leaf of the ledger's log: the transaction as the ledger accepted it. Its bytes are the
 * RFC 8785 canonical JSON of `{seq, acceptedAt, tx, sig}` and its hash the RFC 9162 leaf
 * hash of those bytes; `seq` is the leaf's 0-based index in the tree. `tx` and `sig` are
 * checked by the transaction layer, not here.
 */

export interface Leaf {
  seq: number;
  /** unix milliseconds: the time every rule is evaluated at */
  acceptedAt: number;
  tx: { [key: string]: JsonValue };
  /** hex signature over the transaction */
  sig: string;
}

/** A leaf as a store holds it: canonical bytes and their leaf hash. */
export interface EncodedLeaf {
  seq: number;
  bytes: Buffer;
  hash: Buffer;
}

const HEX = /^(?:[0-9a-f]{2})+$/;

/** The canonical bytes of a leaf. */
export function leafBytes(leaf: Leaf): Buffer {
  return canonicalBytes({ seq: leaf.seq, acceptedAt: leaf.acceptedAt, tx: leaf.tx, sig: leaf.sig });
}

/** Bytes and hash of a leaf, as stored and proven. */
export function encodeLeaf(leaf: Leaf): EncodedLeaf {
  checkLeaf(leaf);
  const bytes = leafBytes(leaf);
  return { seq: leaf.seq, bytes, hash: hashLeaf(bytes) };
}

function checkLeaf(value: unknown): asserts value is Leaf {
  assertObject(value, 'leaf', 'LOG_LEAF_MALFORMED');
  assertExactKeys(value, 'leaf', ['seq', 'acceptedAt', 'tx', 'sig'], [], 'LOG_LEAF_MALFORMED');
  for (const key of ['seq', 'acceptedAt'] as const) {
    const n = value[key];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
      fail('LOG_LEAF_MALFORMED', `'leaf.${key}' must be a non-negative integer, got ${String(n)}`);
  }
  assertObject(value['tx'], 'leaf.tx', 'LOG_LEAF_MALFORMED');
  if (typeof value['sig'] !== 'string' || !HEX.test(value['sig']))
    fail('LOG_LEAF_MALFORMED', `'leaf.sig' must be lowercase hex`);
}

/**
 * Parses stored or received leaf bytes, refusing anything that is not exactly the
 * canonical encoding of a well-formed leaf (so one leaf has one hash).
 * @throws VdcError LOG_LEAF_MALFORMED
 */
export function parseLeafBytes(bytes: Uint8Array): Leaf {
  let value: JsonValue;
  try {
    value = parseJson(bytes);
  } catch (cause) {
    fail('LOG_LEAF_MALFORMED', `the leaf bytes are not JSON: ${(cause as Error).message}`, cause);
  }
  checkLeaf(value);
  if (!canonicalBytes(value).equals(bytes))
    fail('LOG_LEAF_MALFORMED', `the leaf ${value.seq} is not in RFC 8785 canonical form`);
  return value;
}
