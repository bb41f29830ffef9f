import type { ErrorKind } from '../error-codes.ts';

/** Codes of src/relay: envelopes, the relay server and its client. See docs/relay.md. */
export const RELAY_CODES = {
  // envelopes (checked by receivers, and in part by relays)
  ENVELOPE_MALFORMED: 'invalid',
  ENVELOPE_TOO_LARGE: 'invalid',
  ENVELOPE_SENDER_UNKNOWN: 'unauthorized',
  ENVELOPE_SIGNATURE_INVALID: 'unauthorized',
  ENVELOPE_WRONG_RECIPIENT: 'forbidden',
  ENVELOPE_RECIPIENT_UNKNOWN: 'not-found',
  ENVELOPE_EXPIRED: 'expired',
  ENVELOPE_EXPIRY_TOO_FAR: 'invalid',
  ENVELOPE_REPLAYED: 'conflict',
  ENVELOPE_DECRYPT_FAILED: 'unauthorized',
  REPLAY_STORE_CORRUPT: 'invalid',
  REPLAY_STORE_FULL: 'unavailable',
  // relay protocol and server
  RELAY_FRAME_MALFORMED: 'invalid',
  RELAY_FRAME_TOO_LARGE: 'invalid',
  RELAY_AUTH_REQUIRED: 'unauthorized',
  RELAY_AUTH_FAILED: 'unauthorized',
  RELAY_AUTH_TIMEOUT: 'expired',
  RELAY_TWIN_UNKNOWN: 'unauthorized',
  RELAY_PEER_REFUSED: 'forbidden',
  RELAY_SENDER_MISMATCH: 'forbidden',
  RELAY_RECIPIENT_NOT_HERE: 'not-found',
  RELAY_QUEUE_FULL: 'unavailable',
  RELAY_RATE_LIMITED: 'unavailable',
  RELAY_RATE_LIMIT_EXCEEDED: 'forbidden',
  RELAY_PEER_UNREACHABLE: 'unavailable',
  RELAY_SESSION_REPLACED: 'conflict',
  RELAY_SHUTTING_DOWN: 'unavailable',
  RELAY_LISTEN_INVALID: 'usage',
  // client
  RELAY_UNAVAILABLE: 'unavailable',
  RELAY_SEND_TIMEOUT: 'unavailable',
  RELAY_SEND_QUEUE_FULL: 'unavailable',
  RELAY_REQUEST_TIMEOUT: 'unavailable',
  RELAY_CLIENT_CLOSED: 'unavailable',
  RELAY_CLIENT_NO_RELAYS: 'usage',
  RELAY_REMOTE_ERROR: 'internal',
} as const satisfies Record<string, ErrorKind>;
