/*
 * The S3-compatible endpoint over a ZstorStore (docs/zstor.md, "S3 API"): SigV4 auth,
 * buckets as name prefixes, objects streamed in and out, multipart uploads.
 */
export { type S3Credentials, s3CredentialsFromKey } from './s3-credentials.ts';
export { DEFAULT_LIMITS, type S3Limits } from './s3-request.ts';
export {
  MAX_HEADER_BYTES,
  type S3Server,
  type S3ServerOptions,
  s3Listener,
  startS3Server,
} from './s3-server.ts';
