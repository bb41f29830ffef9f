import type { ErrorKind } from '../error-codes.ts';

/** Codes of src/node: the node agent, its message API and deployment engine. See docs/node-api.md. */
export const NODE_CODES = {
  // the message API
  NODE_API_KIND_REFUSED: 'forbidden',
  NODE_API_METHOD_UNKNOWN: 'not-found',
  NODE_API_REQUEST_INVALID: 'invalid',
  NODE_API_FARMER_REFUSED: 'forbidden',
  NODE_NETWORK_NOT_SUPPORTED: 'unavailable',
  NODE_FENCED: 'unavailable',
  // the deployment document
  DEPLOYMENT_MALFORMED: 'invalid',
  // P2 checks, in the order the node makes them
  DEPLOYMENT_SENDER_NOT_OWNER: 'forbidden',
  DEPLOYMENT_SIGNER_NOT_AUTHORISED: 'forbidden',
  DEPLOYMENT_SIGNATURE_INVALID: 'unauthorized',
  DEPLOYMENT_WRONG_LEDGER: 'forbidden',
  DEPLOYMENT_WRONG_NODE: 'forbidden',
  DEPLOYMENT_CONTRACT_UNKNOWN: 'not-found',
  DEPLOYMENT_CONTRACT_CANCELLED: 'conflict',
  DEPLOYMENT_CONTRACT_EXPIRED: 'expired',
  DEPLOYMENT_CONTRACT_OTHER_NODE: 'forbidden',
  DEPLOYMENT_CONTRACT_OTHER_TWIN: 'forbidden',
  DEPLOYMENT_HASH_MISMATCH: 'conflict',
  DEPLOYMENT_VERSION_NOT_NEWER: 'conflict',
  DEPLOYMENT_WORKLOAD_NAME_TAKEN: 'invalid',
  DEPLOYMENT_WORKLOAD_KIND_UNKNOWN: 'invalid',
  DEPLOYMENT_WORKLOAD_INVALID: 'invalid',
  DEPLOYMENT_GATEWAY_TARGET_INVALID: 'invalid',
  DEPLOYMENT_GATEWAY_TLS_INVALID: 'invalid',
  // the engine and its store
  DEPLOYMENT_EXISTS: 'conflict',
  DEPLOYMENT_NOT_FOUND: 'not-found',
  WORKLOAD_KIND_UNAVAILABLE: 'unavailable',
  NODE_STATE_CORRUPT: 'invalid',
  WORKLOAD_CAPACITY_EXCEEDED: 'conflict',
  // the container runtime
  CONTAINER_RUNTIME_UNAVAILABLE: 'unavailable',
  CONTAINER_START_FAILED: 'unavailable',
  CONTAINER_STOP_FAILED: 'unavailable',
  CONTAINER_SECRET_INVALID: 'invalid',
  // the gateway runtime (docs/node-gateway.md)
  GATEWAY_WORKLOAD_UNAVAILABLE: 'unavailable',
  GATEWAY_WORKLOAD_NOT_RUNNING: 'unavailable',
  GATEWAY_FORWARDER_FAILED: 'unavailable',
  // the agent's start
  NODE_GRANT_REQUIRED: 'usage',
  NODE_GRANT_INVALID: 'invalid',
  NODE_FARM_MISMATCH: 'conflict',
} as const satisfies Record<string, ErrorKind>;
