import type { ServerResponse } from 'node:http';
import { fail } from '../../core/assert.ts';
import { type Multipart, parseCompleteBody, parsePartNumber } from './multipart.ts';
import { checkBucketName, checkKey } from './s3-names.ts';
import type { ObjectHead, S3Objects } from './s3-objects.ts';
import {
  httpDate,
  isoDate,
  parseRange,
  requestAttributes,
  requestBody,
  type S3Context,
  sendEmpty,
  sendXml,
  smallBody,
} from './s3-request.ts';

/** Waits for 'drain', or 'close': a client that went away never drains, and must not pin the reader. */
function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function objectHeaders(head: ObjectHead): Record<string, string> {
  const h: Record<string, string> = {
    etag: `"${head.etag}"`,
    'last-modified': httpDate(head.lastModified),
    'content-type': head.contentType,
    'accept-ranges': 'bytes',
  };
  for (const [k, v] of Object.entries(head.userMeta)) h[`x-amz-meta-${k}`] = v;
  return h;
}

export async function putObject(
  ctx: S3Context,
  objects: S3Objects,
  bucket: string,
  key: string,
): Promise<void> {
  const attrs = requestAttributes(ctx.headers);
  const body = requestBody(ctx, ctx.limits.maxObjectBytes);
  const head = await objects.putObject(
    bucket,
    key,
    body.pieces,
    () => ({ etag: body.result().md5 }),
    attrs,
  );
  sendEmpty(ctx, 200, { etag: `"${head.etag}"` });
}

export async function headObject(
  ctx: S3Context,
  objects: S3Objects,
  bucket: string,
  key: string,
): Promise<void> {
  const head = await objects.headObject(bucket, key);
  ctx.res.writeHead(200, { ...objectHeaders(head), 'content-length': String(head.size) });
  ctx.res.end();
}

/** Streams the object (or the asked range) with backpressure: a few chunks in memory at most. */
export async function getObject(
  ctx: S3Context,
  objects: S3Objects,
  bucket: string,
  key: string,
): Promise<void> {
  const head = await objects.headObject(bucket, key);
  const range = parseRange(ctx.headers.get('range'), head.size);
  const start = range?.start ?? 0;
  const end = range?.end ?? head.size - 1;
  const headers: Record<string, string> = {
    ...objectHeaders(head),
    'content-length': String(end - start + 1),
  };
  if (range) headers['content-range'] = `bytes ${start}-${end}/${head.size}`;
  const body = objects.body(
    bucket,
    key,
    head,
    range ? { offset: start, length: end - start + 1 } : undefined,
  );
  // Read the first piece before the status goes out, so a failing read is still an S3 error.
  const first = head.size === 0 ? undefined : await body.next();
  const res = ctx.res;
  res.writeHead(range ? 206 : 200, headers);
  let offset = start; // the body begins at the range's first byte
  const send = async (piece: Buffer): Promise<boolean> => {
    const from = Math.max(start - offset, 0);
    const to = Math.min(end + 1 - offset, piece.length);
    offset += piece.length;
    if (to > from && !res.write(piece.subarray(from, to))) await drainOrClose(res);
    if (res.destroyed) throw new Error('the client closed the connection');
    return offset <= end;
  };
  try {
    let more = first !== undefined && !first.done ? await send(first.value) : false;
    while (more) {
      const next = await body.next();
      if (next.done) break;
      more = await send(next.value);
    }
    res.end();
  } catch (err) {
    // The status is out: the only honest signal left is a cut connection.
    res.destroy(err instanceof Error ? err : undefined);
  } finally {
    await body.return(undefined);
  }
}

export async function deleteObject(
  ctx: S3Context,
  objects: S3Objects,
  bucket: string,
  key: string,
): Promise<void> {
  await objects.deleteObject(bucket, key);
  sendEmpty(ctx, 204);
}

/** CopyObject: x-amz-copy-source "/bucket/key" (URL-encoded); the body is streamed across. */
export async function copyObject(
  ctx: S3Context,
  objects: S3Objects,
  bucket: string,
  key: string,
): Promise<void> {
  const source = ctx.headers.get('x-amz-copy-source')!;
  let decoded: string;
  try {
    decoded = decodeURIComponent(source.split('?')[0]!);
  } catch {
    return fail('S3_INVALID_ARGUMENT', 'x-amz-copy-source has a malformed percent-encoding');
  }
  const m = /^\/?([^/]+)\/(.+)$/s.exec(decoded);
  if (!m)
    fail(
      'S3_INVALID_ARGUMENT',
      `x-amz-copy-source must be BUCKET/KEY, got ${JSON.stringify(source.slice(0, 200))}`,
    );
  const [fromBucket, fromKey] = [checkBucketName(m![1]!), checkKey(m![2]!)];
  const directive = ctx.headers.get('x-amz-metadata-directive') ?? 'COPY';
  if (directive !== 'COPY' && directive !== 'REPLACE')
    fail(
      'S3_INVALID_ARGUMENT',
      `x-amz-metadata-directive must be COPY or REPLACE, got ${JSON.stringify(directive)}`,
    );
  const head = await objects.headObject(fromBucket, fromKey);
  if (fromBucket === bucket && fromKey === key && directive === 'COPY')
    fail(
      'S3_INVALID_ARGUMENT',
      'copying an object onto itself needs x-amz-metadata-directive REPLACE',
    );
  const attrs =
    directive === 'REPLACE'
      ? requestAttributes(ctx.headers)
      : { contentType: head.contentType, userMeta: head.userMeta };
  const copied = await objects.putObject(
    bucket,
    key,
    objects.body(fromBucket, fromKey, head),
    () => ({ etag: head.etag }),
    attrs,
  );
  sendXml(ctx, 200, 'CopyObjectResult', {
    LastModified: isoDate(copied.lastModified),
    ETag: `"${copied.etag}"`,
  });
}

export async function createUpload(
  ctx: S3Context,
  mp: Multipart,
  bucket: string,
  key: string,
): Promise<void> {
  const id = await mp.create(bucket, key, requestAttributes(ctx.headers));
  sendXml(ctx, 200, 'InitiateMultipartUploadResult', { Bucket: bucket, Key: key, UploadId: id });
}

export async function uploadPart(
  ctx: S3Context,
  mp: Multipart,
  bucket: string,
  key: string,
): Promise<void> {
  if (ctx.headers.has('x-amz-copy-source'))
    fail(
      'S3_NOT_IMPLEMENTED',
      'UploadPartCopy is not supported: copy the object, or upload the part',
    );
  const n = parsePartNumber(ctx.query.get('partNumber'));
  const body = requestBody(ctx, ctx.limits.maxObjectBytes);
  const md5 = await mp.putPart(bucket, key, ctx.query.get('uploadId')!, n, body.pieces, () =>
    body.result(),
  );
  sendEmpty(ctx, 200, { etag: `"${md5}"` });
}

export async function completeUpload(
  ctx: S3Context,
  mp: Multipart,
  bucket: string,
  key: string,
): Promise<void> {
  const id = ctx.query.get('uploadId')!;
  await mp.upload(bucket, key, id);
  const wanted = parseCompleteBody(await smallBody(ctx));
  const head = await mp.complete(bucket, key, id, wanted);
  sendXml(ctx, 200, 'CompleteMultipartUploadResult', {
    Location: `/${bucket}/${key}`,
    Bucket: bucket,
    Key: key,
    ETag: `"${head.etag}"`,
  });
}

export async function abortUpload(
  ctx: S3Context,
  mp: Multipart,
  bucket: string,
  key: string,
): Promise<void> {
  await mp.abort(bucket, key, ctx.query.get('uploadId')!);
  sendEmpty(ctx, 204);
}

export async function listParts(
  ctx: S3Context,
  mp: Multipart,
  bucket: string,
  key: string,
): Promise<void> {
  const id = ctx.query.get('uploadId')!;
  await mp.upload(bucket, key, id);
  const count = (name: string, fallback: number): number => {
    const v = ctx.query.get(name);
    if (v === undefined) return fallback;
    if (!/^[0-9]{1,9}$/.test(v))
      fail(
        'S3_INVALID_ARGUMENT',
        `${name} must be a non-negative integer, got ${JSON.stringify(v.slice(0, 20))}`,
      );
    return Number(v);
  };
  const marker = count('part-number-marker', 0);
  const max = Math.min(count('max-parts', 1000), 1000);
  const all = (await mp.parts(id)).filter((p) => p.part > marker);
  const page = all.slice(0, max);
  sendXml(ctx, 200, 'ListPartsResult', {
    Bucket: bucket,
    Key: key,
    UploadId: id,
    PartNumberMarker: marker,
    NextPartNumberMarker: page.length > 0 ? page[page.length - 1]!.part : undefined,
    MaxParts: max,
    IsTruncated: all.length > page.length,
    Part: page.map((p) => ({
      PartNumber: p.part,
      LastModified: isoDate(p.lastModified),
      ETag: `"${p.etag}"`,
      Size: p.size,
    })),
  });
}

/** ListMultipartUploads (GET /BUCKET?uploads): the uploads of a bucket not yet completed or aborted. */
export async function listUploads(ctx: S3Context, mp: Multipart, bucket: string): Promise<void> {
  const prefix = ctx.query.get('prefix') ?? '';
  const uploads = (await mp.list(bucket)).filter((u) => u.key.startsWith(prefix));
  const page = uploads.slice(0, 1000);
  sendXml(ctx, 200, 'ListMultipartUploadsResult', {
    Bucket: bucket,
    KeyMarker: '',
    UploadIdMarker: '',
    Prefix: prefix,
    MaxUploads: 1000,
    IsTruncated: uploads.length > page.length,
    Upload: page.map((u) => ({
      Key: u.key,
      UploadId: u.id,
      Initiated: isoDate(u.initiated),
      StorageClass: 'STANDARD',
    })),
  });
}
