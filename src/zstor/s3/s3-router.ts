import { fail } from '../../core/assert.ts';
import * as b from './bucket-handlers.ts';
import type { Multipart } from './multipart.ts';
import * as o from './object-handlers.ts';
import type { S3Objects } from './s3-objects.ts';
import type { S3Context } from './s3-request.ts';

/*
 * Which S3 operation a request is: path style only (/BUCKET/KEY; the host is not looked
 * at), then method and sub-resource query parameters, as in the S3 API reference.
 * Sub-resources this server does not keep (acl, policy, versioning, tagging, …) answer
 * NotImplemented rather than being mistaken for a plain GET or PUT.
 */

const BUCKET_SUBRESOURCES_SUPPORTED = new Set(['location', 'list-type', 'delete', 'uploads']);
const UPLOAD_LIST_PARAMS = new Set([
  'uploads',
  'prefix',
  'delimiter',
  'max-uploads',
  'key-marker',
  'upload-id-marker',
  'encoding-type',
]);
const LIST_PARAMS = new Set([
  'prefix',
  'delimiter',
  'max-keys',
  'marker',
  'continuation-token',
  'start-after',
  'encoding-type',
  'fetch-owner',
  'list-type',
]);
const OBJECT_PARAMS = new Set([
  'uploads',
  'uploadId',
  'partNumber',
  'max-parts',
  'part-number-marker',
  'x-id',
]);

function unsupported(what: string): never {
  return fail(
    'S3_NOT_IMPLEMENTED',
    `${what} is not supported by this S3 endpoint (see docs/zstor.md, "S3 API")`,
  );
}

function isAuthParam(k: string): boolean {
  return k.startsWith('X-Amz-') || k.startsWith('x-amz-') || k.startsWith('response-');
}

export async function routeS3(ctx: S3Context, objects: S3Objects, mp: Multipart): Promise<void> {
  const { method, bucket, key, query } = ctx;
  const params = [...query.keys()].filter((k) => !isAuthParam(k));
  if (bucket === undefined) {
    if (method === 'GET') return b.listBuckets(ctx, objects);
    return fail('S3_METHOD_NOT_ALLOWED', `${method} / is not an S3 operation here`);
  }
  if (key === undefined) {
    const sub = params.find((p) => !LIST_PARAMS.has(p) && !BUCKET_SUBRESOURCES_SUPPORTED.has(p));
    if (sub !== undefined) unsupported(`the bucket sub-resource ?${sub}`);
    if (method === 'GET' && query.has('location')) return b.bucketLocation(ctx, objects, bucket);
    if (query.has('uploads')) {
      const extra = params.find((p) => !UPLOAD_LIST_PARAMS.has(p));
      if (method !== 'GET' || extra !== undefined)
        unsupported(`${method} ?uploads${extra ? ` with ?${extra}` : ''}`);
      return o.listUploads(ctx, mp, bucket);
    }
    if (query.has('delete'))
      return method === 'POST'
        ? b.deleteObjects(ctx, objects, bucket)
        : unsupported(`${method} ?delete`);
    if (method === 'GET') return b.listObjects(ctx, objects, bucket);
    if (params.length > 0) unsupported(`${method} with ?${params[0]}`);
    if (method === 'PUT') return b.createBucket(ctx, objects, bucket);
    if (method === 'HEAD') return b.headBucket(ctx, objects, bucket);
    if (method === 'DELETE') return b.deleteBucket(ctx, objects, bucket);
    return fail('S3_METHOD_NOT_ALLOWED', `${method} on a bucket is not an S3 operation here`);
  }
  const sub = params.find((p) => !OBJECT_PARAMS.has(p));
  if (sub !== undefined) unsupported(`the object sub-resource ?${sub}`);
  const uploadId = query.get('uploadId');
  switch (method) {
    case 'PUT':
      if (uploadId !== undefined) return o.uploadPart(ctx, mp, bucket, key);
      if (ctx.headers.has('x-amz-copy-source')) return o.copyObject(ctx, objects, bucket, key);
      return o.putObject(ctx, objects, bucket, key);
    case 'GET':
      if (uploadId !== undefined) return o.listParts(ctx, mp, bucket, key);
      return o.getObject(ctx, objects, bucket, key);
    case 'HEAD':
      return o.headObject(ctx, objects, bucket, key);
    case 'DELETE':
      if (uploadId !== undefined) return o.abortUpload(ctx, mp, bucket, key);
      return o.deleteObject(ctx, objects, bucket, key);
    case 'POST':
      if (query.has('uploads')) return o.createUpload(ctx, mp, bucket, key);
      if (uploadId !== undefined) return o.completeUpload(ctx, mp, bucket, key);
      return unsupported('POST on an object without ?uploads or ?uploadId');
    default:
      return fail('S3_METHOD_NOT_ALLOWED', `${method} on an object is not an S3 operation here`);
  }
}
