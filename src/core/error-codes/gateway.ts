import type { ErrorKind } from '../error-codes.ts';

/** Codes of src/gateway: the web gateway, its tunnels and the tunnel client. See docs/gateway.md. */
export const GATEWAY_CODES = {
  // gateway setup
  GATEWAY_LISTEN_INVALID: 'usage',
  GATEWAY_CERT_FAILED: 'internal',
  GATEWAY_NO_FARM: 'not-found',
  GATEWAY_REGISTRATION_MISMATCH: 'conflict',
  GATEWAY_UNKNOWN: 'not-found',
  // tunnel handshake
  TUNNEL_FRAME_MALFORMED: 'invalid',
  TUNNEL_HANDSHAKE_TIMEOUT: 'expired',
  TUNNEL_PIN_MISMATCH: 'unauthorized',
  TUNNEL_AUTH_FAILED: 'unauthorized',
  TUNNEL_NAME_UNKNOWN: 'not-found',
  TUNNEL_NOT_NAME_OWNER: 'forbidden',
  TUNNEL_NODE_NOT_LISTED: 'forbidden',
  TUNNEL_GRANT_INVALID: 'unauthorized',
  TUNNEL_REFUSED: 'forbidden',
  // the owner's certificate for an http-mode name served over TLS
  TUNNEL_CERT_INVALID: 'invalid',
  TUNNEL_CERT_NOT_PINNED: 'forbidden',
  TUNNEL_CERT_REQUIRED: 'forbidden',
  TUNNEL_CERT_NOT_HTTP: 'forbidden',
  TUNNEL_CERT_WRONG_NAME: 'invalid',
  TUNNEL_CERT_EXPIRED: 'expired',
  TUNNEL_CERT_KEY_MISMATCH: 'invalid',
  // tunnel use
  TUNNEL_UNAVAILABLE: 'unavailable',
  TUNNEL_TARGET_INVALID: 'usage',
  // http mode: the backend's answer, read by the gateway
  UPSTREAM_RESPONSE_INVALID: 'unavailable',
  UPSTREAM_REQUEST_INVALID: 'invalid',
} as const satisfies Record<string, ErrorKind>;
