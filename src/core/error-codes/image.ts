import type { ErrorKind } from '../error-codes.ts';

/** Codes of the node's image fetch, cache and unpack (src/node/image-*.ts). See docs/node-images.md. */
export const IMAGE_CODES = {
  IMAGE_FETCH_FAILED: 'unavailable',
  // fetch and cache
  IMAGE_REFERENCE_INVALID: 'invalid',
  IMAGE_FETCH_TIMEOUT: 'unavailable',
  IMAGE_TOO_LARGE: 'invalid',
  // invalid, not unauthorized: the deployment names a URL and a digest that do not agree,
  // and the fix is to correct one of them (docs/node-images.md, "Digest").
  IMAGE_DIGEST_MISMATCH: 'invalid',
  IMAGE_NOT_CACHED: 'not-found',
  IMAGE_CACHE_CORRUPT: 'internal',
  IMAGE_DEST_EXISTS: 'conflict',
  // the tar stream
  IMAGE_TAR_MALFORMED: 'invalid',
  IMAGE_TAR_LIMIT_EXCEEDED: 'invalid',
  IMAGE_ENTRY_TYPE_UNSUPPORTED: 'invalid',
  // unpack refusals, one per attack
  IMAGE_PATH_INVALID: 'invalid',
  IMAGE_PATH_ABSOLUTE: 'invalid',
  IMAGE_PATH_TRAVERSAL: 'invalid',
  IMAGE_PATH_THROUGH_SYMLINK: 'invalid',
  IMAGE_SYMLINK_ESCAPES: 'invalid',
  IMAGE_HARDLINK_ESCAPES: 'invalid',
  IMAGE_HARDLINK_TARGET_MISSING: 'invalid',
  IMAGE_ENTRY_CONFLICT: 'invalid',
  IMAGE_DEVICE_REFUSED: 'invalid',
  IMAGE_FIFO_REFUSED: 'invalid',
  IMAGE_SETUID_REFUSED: 'invalid',
  IMAGE_OWNER_OUT_OF_RANGE: 'invalid',
} as const satisfies Record<string, ErrorKind>;
