import { assertObject, fail } from '../core/assert.ts';
import { canonicalBytes } from '../core/canonical-json.ts';
import { parseJson } from '../core/strict-json.ts';
import { readHex, readObject, readTime, readUint } from './tx-fields.ts';
import {
  isTxType,
  MAX_BODY_BYTES,
  MAX_ID,
  MAX_NONCE,
  MAX_SUBMISSION_BYTES,
  SELF_TYPES,
  type Transaction,
} from './tx-format.ts';
import { TX_SPECS } from './tx-types.ts';

/*
 * Strict parsing of what crosses the wire: a submission `{tx, sig}` (JSON text from a
 * client) and a leaf `{seq, acceptedAt, tx, sig}` (from a store or the entry stream). Every
 * field is checked, unknown fields are refused, sizes are bounded, and the body is parsed
 * by its type. The signature is checked against `raw`, the transaction exactly as received.
 */

export interface ParsedSubmission {
  /** The transaction with its body parsed by its type. */
  tx: Transaction<unknown>;
  /** The transaction as received: what the signature covers and what the leaf stores. */
  raw: Transaction;
  sig: string;
}

export interface ParsedLeaf extends ParsedSubmission {
  seq: number;
  acceptedAt: number;
}

const M = 'TX_MALFORMED';

/**
 * Checks a transaction's envelope and body.
 * @throws VdcError TX_MALFORMED, TX_TYPE_UNKNOWN, TX_BODY_TOO_LARGE, TX_BODY_INVALID, or a rule's
 *   code when the body asks for something no transaction may (DELEGATION_FORBIDDEN_TYPE)
 */
export function parseTransaction(value: unknown): { tx: Transaction<unknown>; raw: Transaction } {
  const t = readObject(
    value,
    'tx',
    ['type', 'twin', 'signer', 'nonce', 'ledger', 'body'],
    ['time'],
    M,
  );
  const type = t['type'];
  if (!isTxType(type))
    fail(
      'TX_TYPE_UNKNOWN',
      `'tx.type' ${JSON.stringify(type)} is not a transaction type: see docs/ledger.md for the list`,
    );
  const self = SELF_TYPES.includes(type);
  const twin = readUint(t['twin'], 'tx.twin', self ? 0 : MAX_ID, M, self ? 0 : 1);
  const signer = readHex(t['signer'], 'tx.signer', 32, M);
  const nonce = readUint(t['nonce'], 'tx.nonce', MAX_NONCE, M, 1);
  const ledger = readHex(t['ledger'], 'tx.ledger', 32, M);
  const time = t['time'] === undefined ? undefined : readTime(t['time'], 'tx.time', M);
  assertObject(t['body'], 'tx.body', M);
  const size = canonicalBytes(t['body']).length;
  if (size > MAX_BODY_BYTES)
    fail(
      'TX_BODY_TOO_LARGE',
      `'tx.body' is ${size} bytes of canonical JSON; the limit is ${MAX_BODY_BYTES}`,
    );
  const body = TX_SPECS[type].parseBody(t['body']);
  const tx: Transaction<unknown> = { type, twin, signer, nonce, ledger, body };
  if (time !== undefined) tx.time = time;
  return { tx, raw: value as Transaction };
}

/**
 * Checks a submission `{tx, sig}` given as a parsed JSON value.
 * @throws VdcError TX_UNSIGNED when there is no signature, TX_TOO_LARGE, and parseTransaction's codes
 */
export function parseSubmission(value: unknown): ParsedSubmission {
  const s = readObject(value, 'submission', [], ['tx', 'sig'], M);
  if (s['tx'] === undefined) fail(M, `'submission' lacks the field 'tx'`);
  if (s['sig'] === undefined || s['sig'] === null || s['sig'] === '')
    fail(
      'TX_UNSIGNED',
      `the transaction is unsigned: sign it under vdc/tx/v1 with the key named in 'tx.signer' and send the signature as 'sig'`,
    );
  const sig = readHex(s['sig'], 'sig', 64, M);
  const size = canonicalBytes(s['tx']).length;
  if (size > MAX_SUBMISSION_BYTES)
    fail(
      'TX_TOO_LARGE',
      `the transaction is ${size} bytes of canonical JSON; the limit is ${MAX_SUBMISSION_BYTES}`,
    );
  return { ...parseTransaction(s['tx']), sig };
}

/**
 * Parses a submission from JSON text or bytes, as a server receives it.
 * @throws VdcError TX_TOO_LARGE before parsing anything bigger than MAX_SUBMISSION_BYTES,
 *   JSON_* for malformed JSON, and parseSubmission's codes
 */
export function parseSubmissionJson(input: string | Uint8Array): ParsedSubmission {
  const bytes = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (bytes > MAX_SUBMISSION_BYTES)
    fail(
      'TX_TOO_LARGE',
      `the submission is ${bytes} bytes; the limit is ${MAX_SUBMISSION_BYTES}: make the body smaller`,
    );
  return parseSubmission(parseJson(input));
}

/**
 * Checks a leaf `{seq, acceptedAt, tx, sig}` as stored or streamed.
 * @throws VdcError TX_LEAF_MALFORMED for the leaf's own fields, and parseSubmission's codes
 */
export function parseLeaf(value: unknown): ParsedLeaf {
  const l = readObject(value, 'leaf', ['seq', 'acceptedAt', 'tx', 'sig'], [], 'TX_LEAF_MALFORMED');
  const seq = readUint(l['seq'], 'leaf.seq', Number.MAX_SAFE_INTEGER, 'TX_LEAF_MALFORMED');
  const acceptedAt = readTime(l['acceptedAt'], 'leaf.acceptedAt', 'TX_LEAF_MALFORMED');
  return { ...parseSubmission({ tx: l['tx'], sig: l['sig'] }), seq, acceptedAt };
}
