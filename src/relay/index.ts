/** Public surface of src/relay: envelopes, the relay client, the relay server. See docs/relay.md. */
export {
  type Envelope,
  type EnvelopeHeader,
  MAX_PAYLOAD_BYTES,
  parseEnvelope,
} from './envelope.ts';
export {
  assertEnvelopeSignature,
  decryptEnvelope,
  type EnvelopeIdentity,
  type SealOptions,
  sealEnvelope,
} from './envelope-crypto.ts';
export {
  assertEnvelopeTime,
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_MAX_LIFETIME_MS,
  EnvelopeReceiver,
  type EnvelopeReceiverOptions,
  type OpenedEnvelope,
} from './envelope-receiver.ts';
export {
  followerDirectory,
  type LedgerDirectory,
  openTwinDirectory,
} from './ledger-directory.ts';
export type { ResponseBody } from './pending-requests.ts';
export { DEFAULT_RATE_LIMITS, type RateLimits } from './rate-limiter.ts';
export {
  type ReceivedMessage,
  RelayClient,
  type RelayClientOptions,
  type RequestHandler,
} from './relay-client.ts';
export { MAX_FRAME_BYTES, type SendStatus } from './relay-frames.ts';
export {
  DEFAULT_RELAY_LIMITS,
  type RelayLimits,
  type RelayServer,
  type RelayServerOptions,
  type RelayStats,
  startRelayServer,
} from './relay-server.ts';
export type { RelayStatus } from './relay-set.ts';
export type { DirectoryTwin, TwinDirectory } from './twin-directory.ts';
