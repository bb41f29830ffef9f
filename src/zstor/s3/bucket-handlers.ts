import { fail } from '../../core/assert.ts';
import { asVdcError } from '../../core/errors.ts';
import {
  decodeToken,
  encodeToken,
  type ListEntry,
  listPage,
  parseMaxKeys,
} from './list-objects.ts';
import { s3ErrorResponse } from './s3-errors.ts';
import type { S3Objects } from './s3-objects.ts';
import { isoDate, type S3Context, sendEmpty, sendXml, smallBody } from './s3-request.ts';
import { localName, parseXml } from './s3-xml.ts';

/** The owner every listing names: the one user whose seed this server runs with. */
const OWNER = { ID: 'vdc', DisplayName: 'vdc' };

export async function listBuckets(ctx: S3Context, objects: S3Objects): Promise<void> {
  const buckets = await objects.listBuckets();
  sendXml(ctx, 200, 'ListAllMyBucketsResult', {
    Owner: OWNER,
    Buckets: { Bucket: buckets.map((b) => ({ Name: b.name, CreationDate: isoDate(b.createdAt) })) },
  });
}

export async function createBucket(
  ctx: S3Context,
  objects: S3Objects,
  bucket: string,
): Promise<void> {
  const body = await smallBody(ctx);
  if (body.trim() !== '') {
    // Only a CreateBucketConfiguration (a location, which one server does not need) is accepted.
    const doc = parseXml(body);
    if (localName(doc) !== 'CreateBucketConfiguration')
      fail('S3_MALFORMED_XML', `expected <CreateBucketConfiguration>, got <${doc.name}>`);
  }
  await objects.createBucket(bucket);
  sendEmpty(ctx, 200, { location: `/${bucket}` });
}

export async function headBucket(
  ctx: S3Context,
  objects: S3Objects,
  bucket: string,
): Promise<void> {
  await objects.requireBucket(bucket);
  sendEmpty(ctx, 200, { 'x-amz-bucket-region': 'us-east-1' });
}

export async function deleteBucket(
  ctx: S3Context,
  objects: S3Objects,
  bucket: string,
): Promise<void> {
  await objects.deleteBucket(bucket);
  sendEmpty(ctx, 204);
}

export async function bucketLocation(
  ctx: S3Context,
  objects: S3Objects,
  bucket: string,
): Promise<void> {
  await objects.requireBucket(bucket);
  // An empty LocationConstraint means us-east-1, the region clients default to.
  sendXml(ctx, 200, 'LocationConstraint', {});
}

/** ListObjects (v1) and ListObjectsV2. */
export async function listObjects(
  ctx: S3Context,
  objects: S3Objects,
  bucket: string,
): Promise<void> {
  const q = ctx.query;
  const v2 = q.get('list-type') === '2';
  if (q.has('list-type') && !v2)
    fail('S3_INVALID_ARGUMENT', `list-type must be 2, got ${q.get('list-type')}`);
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const maxKeys = parseMaxKeys(q.get('max-keys'));
  const token = q.get('continuation-token');
  const startAfter = q.get('start-after') ?? '';
  const marker = q.get('marker') ?? '';
  const after = v2 ? (token !== undefined ? decodeToken(token) : startAfter) : marker;
  const urlEncode = q.get('encoding-type') === 'url';
  if (q.has('encoding-type') && !urlEncode)
    fail('S3_INVALID_ARGUMENT', `encoding-type must be url, got ${q.get('encoding-type')}`);
  await objects.requireBucket(bucket);
  const base = `${bucket}/`;
  const sorted: ListEntry[] = (await objects.store.list(base + prefix)).map((o) => ({
    key: o.name.slice(base.length),
    size: o.size,
    lastModified: o.createdAt,
    version: o.version,
  }));
  const page = listPage(sorted, { prefix, delimiter, maxKeys, after });
  const etags = await objects.etags(bucket, page.contents);
  const enc = (s: string) => (urlEncode ? encodeURIComponent(s).replace(/%2F/g, '/') : s);
  const contents = page.contents.map((e, i) => ({
    Key: enc(e.key),
    LastModified: isoDate(e.lastModified),
    ETag: `"${etags[i]}"`,
    Size: e.size,
    StorageClass: 'STANDARD',
    ...(v2 ? {} : { Owner: OWNER }),
  }));
  const common = page.commonPrefixes.map((p) => ({ Prefix: enc(p) }));
  const shared = {
    Name: bucket,
    Prefix: enc(prefix),
    Delimiter: delimiter === '' ? undefined : enc(delimiter),
    MaxKeys: maxKeys,
    EncodingType: urlEncode ? 'url' : undefined,
    IsTruncated: page.truncated,
  };
  if (v2)
    sendXml(ctx, 200, 'ListBucketResult', {
      ...shared,
      KeyCount: contents.length + common.length,
      ContinuationToken: token,
      NextContinuationToken: page.next === undefined ? undefined : encodeToken(page.next),
      StartAfter: q.has('start-after') ? enc(startAfter) : undefined,
      Contents: contents,
      CommonPrefixes: common,
    });
  else
    sendXml(ctx, 200, 'ListBucketResult', {
      ...shared,
      Marker: enc(marker),
      NextMarker: page.next === undefined || delimiter === '' ? undefined : enc(page.next),
      Contents: contents,
      CommonPrefixes: common,
    });
}

const MAX_DELETE_KEYS = 1000;

/** DeleteObjects (POST /BUCKET?delete): up to 1000 keys; each deleted, or reported with its error. */
export async function deleteObjects(
  ctx: S3Context,
  objects: S3Objects,
  bucket: string,
): Promise<void> {
  await objects.requireBucket(bucket);
  const doc = parseXml(await smallBody(ctx));
  if (localName(doc) !== 'Delete') fail('S3_MALFORMED_XML', `expected <Delete>, got <${doc.name}>`);
  let quiet = false;
  const keys: string[] = [];
  for (const el of doc.children) {
    const name = localName(el);
    if (name === 'Quiet') quiet = el.text.trim() === 'true';
    else if (name === 'Object') {
      const key = el.children.find((c) => localName(c) === 'Key');
      if (key === undefined) fail('S3_MALFORMED_XML', 'every <Object> needs a <Key>');
      keys.push(key.text);
    } else fail('S3_MALFORMED_XML', `unexpected <${el.name}> in <Delete>`);
  }
  if (keys.length === 0 || keys.length > MAX_DELETE_KEYS)
    fail(
      'S3_MALFORMED_XML',
      `<Delete> must list 1..${MAX_DELETE_KEYS} objects, got ${keys.length}`,
    );
  const deleted: { Key: string }[] = [];
  const errors: { Key: string; Code: string; Message: string }[] = [];
  for (const key of keys)
    try {
      await objects.deleteObject(bucket, key);
      deleted.push({ Key: key });
    } catch (err) {
      const e = s3ErrorResponse(err, key, '');
      errors.push({ Key: key, Code: e.code, Message: asVdcError(err).message });
    }
  sendXml(ctx, 200, 'DeleteResult', { Deleted: quiet ? [] : deleted, Error: errors });
}
