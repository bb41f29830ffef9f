import { fail } from '../../core/assert.ts';

/*
 * How S3 names map onto the one ZstorStore namespace (docs/zstor.md "S3 API"):
 *   object         BUCKET/KEY              (so `vdc store get BUCKET/KEY` reads it too)
 *   its attributes .s3/meta/BUCKET/KEY     (ETag, Content-Type, x-amz-meta-*, body version)
 *   bucket         .s3/bucket/BUCKET       (creation time)
 *   upload         .s3/upload/ID           (bucket, key, attributes of a multipart upload)
 *   part           .s3/part/ID/NNNNN, and .s3/partmd5/ID/NNNNN.MD5HEX (empty; its MD5)
 * Bucket names cannot start with '.', so nothing under `.s3/` is ever an object.
 */

export const RESERVED = '.s3/';
/** zstor names are ≤ 1024 characters; `.s3/meta/` + bucket + '/' leaves this many UTF-8 bytes. */
export const MAX_KEY_BYTES = 900;

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** @throws VdcError S3_INVALID_BUCKET_NAME */
export function checkBucketName(name: string): string {
  if (!BUCKET.test(name) || name.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(name))
    fail(
      'S3_INVALID_BUCKET_NAME',
      `bucket name ${JSON.stringify(name.slice(0, 80))} is not valid: 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit`,
    );
  return name;
}

/** @throws VdcError S3_KEY_TOO_LONG, S3_INVALID_ARGUMENT */
export function checkKey(key: string): string {
  if (key.length === 0) fail('S3_INVALID_ARGUMENT', 'the object key is empty');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES)
    fail(
      'S3_KEY_TOO_LONG',
      `the object key is over ${MAX_KEY_BYTES} bytes of UTF-8 (the limit here)`,
    );
  if (key.includes('\u0000'))
    fail('S3_INVALID_ARGUMENT', 'the object key contains a NUL character');
  return key;
}

export const objectName = (bucket: string, key: string): string => `${bucket}/${key}`;
export const attributesName = (bucket: string, key: string): string =>
  `${RESERVED}meta/${bucket}/${key}`;
export const bucketName = (bucket: string): string => `${RESERVED}bucket/${bucket}`;
export const uploadName = (id: string): string => `${RESERVED}upload/${id}`;
export const partPrefix = (id: string): string => `${RESERVED}part/${id}/`;
