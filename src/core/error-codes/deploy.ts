import type { ErrorKind } from '../error-codes.ts';

/** Codes of `vdc deploy`, `vdc deployment …` and sealed secrets (src/node/secret-seal.ts). See docs/deploy.md. */
export const DEPLOY_CODES = {
  // the deploy file and the command
  DEPLOY_FILE_INVALID: 'invalid',
  DEPLOY_NODE_UNKNOWN: 'not-found',
  DEPLOY_CONTRACT_NOT_YOURS: 'not-found',
  DEPLOY_RELAY_UNKNOWN: 'usage',
  DEPLOY_WORKLOAD_FAILED: 'conflict',
  DEPLOY_TIMEOUT: 'unavailable',
  // a gateway workload's name, checked before the grant is signed (docs/node-gateway.md)
  DEPLOY_NAME_UNKNOWN: 'not-found',
  DEPLOY_NAME_NOT_YOURS: 'forbidden',
  DEPLOY_NAME_OTHER_GATEWAY: 'conflict',
  DEPLOY_NAME_NODE_NOT_LISTED: 'forbidden',
  // a gateway workload's TLS certificate and key, checked before anything is signed
  DEPLOY_TLS_INVALID: 'invalid',
  DEPLOY_TLS_KEY_MISMATCH: 'invalid',
  DEPLOY_TLS_REQUIRED: 'forbidden',
  DEPLOY_TLS_NOT_HTTP: 'forbidden',
  DEPLOY_TLS_NOT_PINNED: 'forbidden',
  DEPLOY_TLS_WRONG_NAME: 'invalid',
  DEPLOY_TLS_EXPIRED: 'expired',
  // secrets sealed to a node
  SECRET_TOO_LARGE: 'invalid',
  SECRET_SEAL_MALFORMED: 'invalid',
  SECRET_SEAL_VERSION_UNKNOWN: 'invalid',
  SECRET_SEALED_FOR_OTHER_NODE: 'forbidden',
  SECRET_SEALED_FOR_OTHER_USE: 'forbidden',
  SECRET_SEAL_TAMPERED: 'unauthorized',
  // the owner's copy of a deployment (the contract's `deployment` field)
  OWNER_COPY_TOO_LARGE: 'invalid',
  OWNER_COPY_MALFORMED: 'invalid',
  OWNER_COPY_OPEN_FAILED: 'unauthorized',
} as const satisfies Record<string, ErrorKind>;
