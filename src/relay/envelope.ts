import { fail } from '../core/assert.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import type { ErrorCode } from '../core/error-codes.ts';

/*
 * The envelope (DESIGN §6, docs/relay.md): everything a relay routes. The header is what a
 * relay may read (who, to whom, until when, what kind); the payload travels only as
 * AEAD ciphertext encrypted to the recipient, and the sender's signature covers all of it.
 */

/** Largest plaintext payload an envelope carries. */
export const MAX_PAYLOAD_BYTES = 128 * 1024;
/** AES-256-GCM adds a 16-byte tag. */
export const AEAD_TAG_BYTES = 16;
export const MAX_CIPHERTEXT_BYTES = MAX_PAYLOAD_BYTES + AEAD_TAG_BYTES;
export const ENVELOPE_ID_BYTES = 16;
/** Kinds are short, lowercase and dotted, such as `request`, `response`, `node.report`. */
export const KIND_PATTERN = /^[a-z][a-z0-9.-]{0,63}$/;
const ID_PATTERN = /^[0-9a-f]{32}$/;
const KEY_PATTERN = /^[0-9a-f]{64}$/;
const SIG_PATTERN = /^[0-9a-f]{128}$/;
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Twin ids are ledger ids: non-negative safe integers. */
const MAX_TWIN = Number.MAX_SAFE_INTEGER;
const MAX_TIME = 8.64e15;

/** What the AEAD binds as associated data and the relay may read: all but ciphertext and signature. */
export interface EnvelopeHeader {
  /** 16 random bytes, hex: unique per sender, the key of replay protection and of `replyTo`. */
  id: string;
  from: number;
  to: number;
  /** The id of the request this envelope answers, or null. */
  replyTo: string | null;
  /** Milliseconds since the epoch after which no one may accept it. */
  expires: number;
  kind: string;
  /** The sender's fresh X25519 public key for this envelope, hex. */
  ephemeral: string;
}

export interface Envelope extends EnvelopeHeader {
  /** AES-256-GCM ciphertext with its tag appended, base64. */
  ciphertext: string;
  /** Ed25519 signature by `from` under `vdc/envelope/v1` over all other fields, hex. */
  signature: string;
}

export const ENVELOPE_FIELDS = [
  'id',
  'from',
  'to',
  'replyTo',
  'expires',
  'kind',
  'ephemeral',
  'ciphertext',
  'signature',
] as const;

export function envelopeHeader(e: EnvelopeHeader): EnvelopeHeader {
  return {
    id: e.id,
    from: e.from,
    to: e.to,
    replyTo: e.replyTo,
    expires: e.expires,
    kind: e.kind,
    ephemeral: e.ephemeral,
  };
}

/** The payload the sender signs: the envelope without its signature. */
export function envelopeSigned(e: Envelope): Omit<Envelope, 'signature'> {
  return { ...envelopeHeader(e), ciphertext: e.ciphertext };
}

function bad(what: string, code: ErrorCode = 'ENVELOPE_MALFORMED'): never {
  fail(code, `envelope refused: ${what}`);
}

function twinId(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_TWIN)
    bad(`'${field}' must be a twin id (a non-negative integer)`);
  return value;
}

function matching(value: unknown, pattern: RegExp, field: string, what: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) bad(`'${field}' must be ${what}`);
  return value;
}

/**
 * Checks the shape of an envelope received from the wire: exactly the known fields, each of
 * its type and size. Says nothing yet about signature, recipient or time.
 * @throws VdcError ENVELOPE_MALFORMED, ENVELOPE_TOO_LARGE
 */
export function parseEnvelope(value: JsonValue | unknown): Envelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    bad('an envelope is a JSON object');
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v))
    if (!(ENVELOPE_FIELDS as readonly string[]).includes(key)) bad(`unknown field '${key}'`);
  for (const key of ENVELOPE_FIELDS) if (!Object.hasOwn(v, key)) bad(`it lacks the field '${key}'`);
  const ciphertext = v['ciphertext'];
  if (typeof ciphertext !== 'string') bad(`'ciphertext' must be base64`);
  if (ciphertext.length > Math.ceil(MAX_CIPHERTEXT_BYTES / 3) * 4)
    bad(
      `its ciphertext exceeds ${MAX_CIPHERTEXT_BYTES} bytes: split the payload`,
      'ENVELOPE_TOO_LARGE',
    );
  if (!BASE64_PATTERN.test(ciphertext)) bad(`'ciphertext' must be padded standard base64`);
  if (Buffer.from(ciphertext, 'base64').length < AEAD_TAG_BYTES)
    bad(`'ciphertext' is shorter than its ${AEAD_TAG_BYTES}-byte tag`);
  const replyTo = v['replyTo'];
  const expires = v['expires'];
  if (
    typeof expires !== 'number' ||
    !Number.isSafeInteger(expires) ||
    expires < 0 ||
    expires > MAX_TIME
  )
    bad(`'expires' must be milliseconds since the epoch`);
  return {
    id: matching(v['id'], ID_PATTERN, 'id', `${ENVELOPE_ID_BYTES} bytes of lowercase hex`),
    from: twinId(v['from'], 'from'),
    to: twinId(v['to'], 'to'),
    replyTo:
      replyTo === null ? null : matching(replyTo, ID_PATTERN, 'replyTo', 'null or an envelope id'),
    expires,
    kind: matching(v['kind'], KIND_PATTERN, 'kind', `a kind matching ${KIND_PATTERN}`),
    ephemeral: matching(v['ephemeral'], KEY_PATTERN, 'ephemeral', 'a 32-byte X25519 key in hex'),
    ciphertext,
    signature: matching(v['signature'], SIG_PATTERN, 'signature', 'a 64-byte signature in hex'),
  };
}
