import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type TestContext, test } from 'node:test';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { checkStore } from '../../src/zstor/check.ts';
import { FakeShardBackend } from '../../src/zstor/fake-shard-backend.ts';
import { chunkOrigins } from '../../src/zstor/object-manifest.ts';
import { RecordingBackend } from '../../src/zstor/recording-backend.ts';
import { attributesName } from '../../src/zstor/s3/s3-names.ts';
import { startTestS3 } from '../../src/zstor/s3/s3-test-kit.ts';
import { ZdbShardBackend } from '../../src/zstor/zdb-backend.ts';
import { startZdbNodes } from '../../src/zstor/zdb-backend-test-kit.ts';
import { shardKey, shardNameKey } from '../../src/zstor/zstor-keys.ts';

/*
 * The S3 API driven by the real AWS SDK, over a ZstorStore (4+2) on six real zdb servers
 * on loopback.
 */

async function startS3OverZdb(t: TestContext) {
  const nodes = await startZdbNodes(t, 6);
  const backends = nodes.map((n) => new ZdbShardBackend(n.backend));
  t.after(() => {
    for (const b of backends) b.close();
  });
  return startTestS3(t, { backends });
}

async function bytesOf(body: unknown): Promise<Buffer> {
  const b = body as { transformToByteArray(): Promise<Uint8Array> };
  return Buffer.from(await b.transformToByteArray());
}

test('buckets: create, list, head, refuse a duplicate, delete only when empty', async (t) => {
  const s3 = await startS3OverZdb(t);
  const c = s3.client();
  await c.send(new CreateBucketCommand({ Bucket: 'photos' }));
  await c.send(new CreateBucketCommand({ Bucket: 'docs' }));
  const list = await c.send(new ListBucketsCommand({}));
  assert.deepEqual(
    list.Buckets?.map((b) => b.Name),
    ['docs', 'photos'],
  );
  await c.send(new HeadBucketCommand({ Bucket: 'photos' }));
  await assert.rejects(c.send(new CreateBucketCommand({ Bucket: 'photos' })), {
    name: 'BucketAlreadyOwnedByYou',
  });
  await assert.rejects(
    c.send(new HeadBucketCommand({ Bucket: 'nope' })),
    (e: Error & { $metadata: { httpStatusCode: number } }) => e.$metadata.httpStatusCode === 404,
  );
  await assert.rejects(c.send(new CreateBucketCommand({ Bucket: 'Bad_Name' })), {
    name: 'InvalidBucketName',
  });
  await c.send(new PutObjectCommand({ Bucket: 'photos', Key: 'a', Body: 'x' }));
  await assert.rejects(c.send(new DeleteBucketCommand({ Bucket: 'photos' })), {
    name: 'BucketNotEmpty',
  });
  await c.send(new DeleteObjectCommand({ Bucket: 'photos', Key: 'a' }));
  await c.send(new DeleteBucketCommand({ Bucket: 'photos' }));
  await assert.rejects(c.send(new DeleteBucketCommand({ Bucket: 'photos' })), {
    name: 'NoSuchBucket',
  });
  assert.deepEqual(
    (await c.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name),
    ['docs'],
  );
});

test('objects: put, get, head with metadata, ranges, delete', async (t) => {
  const s3 = await startS3OverZdb(t);
  const c = s3.client();
  await c.send(new CreateBucketCommand({ Bucket: 'bk1' }));
  const body = randomBytes(3 * 1024 * 1024 + 17);
  const put = await c.send(
    new PutObjectCommand({
      Bucket: 'bk1',
      Key: 'dir/file one.bin',
      Body: body,
      ContentType: 'image/png',
      Metadata: { owner: 'ann' },
    }),
  );
  assert.match(put.ETag ?? '', /^"[0-9a-f]{32}"$/);
  const got = await c.send(new GetObjectCommand({ Bucket: 'bk1', Key: 'dir/file one.bin' }));
  assert.deepEqual(await bytesOf(got.Body), body);
  assert.equal(got.ETag, put.ETag);
  assert.equal(got.ContentType, 'image/png');
  assert.deepEqual(got.Metadata, { owner: 'ann' });
  const head = await c.send(new HeadObjectCommand({ Bucket: 'bk1', Key: 'dir/file one.bin' }));
  assert.equal(head.ContentLength, body.length);
  assert.equal(head.ETag, put.ETag);
  for (const [range, from, to] of [
    ['bytes=0-9', 0, 9],
    ['bytes=1048570-1048590', 1048570, 1048590],
    ['bytes=3145720-', 3145720, body.length - 1],
    ['bytes=-5', body.length - 5, body.length - 1],
  ] as const) {
    const r = await c.send(
      new GetObjectCommand({ Bucket: 'bk1', Key: 'dir/file one.bin', Range: range }),
    );
    assert.equal(r.$metadata.httpStatusCode, 206);
    assert.equal(r.ContentRange, `bytes ${from}-${to}/${body.length}`);
    assert.deepEqual(await bytesOf(r.Body), body.subarray(from, to + 1));
  }
  await assert.rejects(
    c.send(
      new GetObjectCommand({
        Bucket: 'bk1',
        Key: 'dir/file one.bin',
        Range: `bytes=${body.length}-`,
      }),
    ),
    { name: 'InvalidRange' },
  );
  await c.send(new PutObjectCommand({ Bucket: 'bk1', Key: 'empty', Body: new Uint8Array(0) }));
  const empty = await c.send(new GetObjectCommand({ Bucket: 'bk1', Key: 'empty' }));
  assert.equal((await bytesOf(empty.Body)).length, 0);
  await c.send(new DeleteObjectCommand({ Bucket: 'bk1', Key: 'dir/file one.bin' }));
  await assert.rejects(c.send(new GetObjectCommand({ Bucket: 'bk1', Key: 'dir/file one.bin' })), {
    name: 'NoSuchKey',
  });
  await assert.rejects(c.send(new GetObjectCommand({ Bucket: 'nob', Key: 'x' })), {
    name: 'NoSuchBucket',
  });
  // deleting what is not there succeeds, as in S3
  await c.send(new DeleteObjectCommand({ Bucket: 'bk1', Key: 'never' }));
});

test('ListObjectsV2: prefix, delimiter, continuation, max-keys; DeleteObjects empties it', async (t) => {
  const s3 = await startS3OverZdb(t);
  const c = s3.client();
  await c.send(new CreateBucketCommand({ Bucket: 'list' }));
  const keys = ['a/1', 'a/2', 'a/b/3', 'b/1', 'c', 'd', 'e/x'];
  for (const Key of keys) await c.send(new PutObjectCommand({ Bucket: 'list', Key, Body: Key }));
  const all = await c.send(new ListObjectsV2Command({ Bucket: 'list' }));
  assert.deepEqual(
    all.Contents?.map((o) => o.Key),
    keys,
  );
  assert.equal(all.KeyCount, keys.length);
  assert.equal(all.Contents?.[0]?.Size, 3);
  assert.match(all.Contents?.[0]?.ETag ?? '', /^"[0-9a-f]{32}"$/);
  const dir = await c.send(new ListObjectsV2Command({ Bucket: 'list', Delimiter: '/' }));
  assert.deepEqual(
    dir.Contents?.map((o) => o.Key),
    ['c', 'd'],
  );
  assert.deepEqual(
    dir.CommonPrefixes?.map((p) => p.Prefix),
    ['a/', 'b/', 'e/'],
  );
  const sub = await c.send(
    new ListObjectsV2Command({ Bucket: 'list', Prefix: 'a/', Delimiter: '/' }),
  );
  assert.deepEqual(
    sub.Contents?.map((o) => o.Key),
    ['a/1', 'a/2'],
  );
  assert.deepEqual(
    sub.CommonPrefixes?.map((p) => p.Prefix),
    ['a/b/'],
  );
  const seen: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = await c.send(
      new ListObjectsV2Command({
        Bucket: 'list',
        Delimiter: '/',
        MaxKeys: 2,
        ContinuationToken: token,
      }),
    );
    pages++;
    seen.push(
      ...(page.CommonPrefixes ?? []).map((p) => p.Prefix!),
      ...(page.Contents ?? []).map((o) => o.Key!),
    );
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  assert.equal(pages, 3);
  assert.deepEqual(seen.sort(), ['a/', 'b/', 'c', 'd', 'e/']);
  const del = await c.send(
    new DeleteObjectsCommand({
      Bucket: 'list',
      Delete: { Objects: [...keys, 'k'.repeat(901)].map((Key) => ({ Key })) },
    }),
  );
  assert.deepEqual(
    del.Deleted?.map((d) => d.Key),
    keys,
  );
  assert.deepEqual(
    del.Errors?.map((e) => e.Code),
    ['KeyTooLongError'],
  );
  assert.equal((await c.send(new ListObjectsV2Command({ Bucket: 'list' }))).KeyCount, 0);
});

test('CopyObject copies bytes and metadata, or replaces the metadata', async (t) => {
  const s3 = await startS3OverZdb(t);
  const c = s3.client();
  await c.send(new CreateBucketCommand({ Bucket: 'src' }));
  await c.send(new CreateBucketCommand({ Bucket: 'dst' }));
  const body = randomBytes(2 * 1024 * 1024 + 5);
  const put = await c.send(
    new PutObjectCommand({ Bucket: 'src', Key: 'k ü', Body: body, Metadata: { a: '1' } }),
  );
  const copy = await c.send(
    new CopyObjectCommand({
      Bucket: 'dst',
      Key: 'copy',
      CopySource: `src/${encodeURIComponent('k ü')}`,
    }),
  );
  assert.equal(copy.CopyObjectResult?.ETag, put.ETag);
  const got = await c.send(new GetObjectCommand({ Bucket: 'dst', Key: 'copy' }));
  assert.deepEqual(await bytesOf(got.Body), body);
  assert.deepEqual(got.Metadata, { a: '1' });
  await c.send(
    new CopyObjectCommand({
      Bucket: 'src',
      Key: 'k ü',
      CopySource: `src/${encodeURIComponent('k ü')}`,
      MetadataDirective: 'REPLACE',
      Metadata: { b: '2' },
    }),
  );
  const head = await c.send(new HeadObjectCommand({ Bucket: 'src', Key: 'k ü' }));
  assert.deepEqual(head.Metadata, { b: '2' });
  await assert.rejects(
    c.send(new CopyObjectCommand({ Bucket: 'dst', Key: 'x', CopySource: 'src/missing' })),
    { name: 'NoSuchKey' },
  );
});

test('multipart upload: several parts, list parts and uploads, complete (no data copied); abort leaves nothing', async (t) => {
  const nodes = await startZdbNodes(t, 6);
  const zdbs = nodes.map((n) => new ZdbShardBackend(n.backend));
  t.after(() => {
    for (const b of zdbs) b.close();
  });
  // every write is recorded on its way to zdb: Complete must write no chunk shard
  const recorded = zdbs.map((b) => new RecordingBackend(b));
  const s3 = await startTestS3(t, { backends: recorded });
  const c = s3.client();
  await c.send(new CreateBucketCommand({ Bucket: 'mpu' }));
  const parts = [randomBytes(5 * 1024 * 1024), randomBytes(5 * 1024 * 1024 + 3), randomBytes(1000)];
  const { UploadId } = await c.send(
    new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'big', ContentType: 'text/x' }),
  );
  assert.ok(UploadId);
  const etags: string[] = [];
  for (const [i, p] of parts.entries()) {
    const r = await c.send(
      new UploadPartCommand({ Bucket: 'mpu', Key: 'big', UploadId, PartNumber: i + 1, Body: p }),
    );
    etags.push(r.ETag!);
  }
  const listed = await c.send(new ListPartsCommand({ Bucket: 'mpu', Key: 'big', UploadId }));
  assert.deepEqual(
    listed.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag]),
    parts.map((p, i) => [i + 1, p.length, etags[i]]),
  );
  await assert.rejects(
    c.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'mpu',
        Key: 'big',
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"00000000000000000000000000000000"' }] },
      }),
    ),
    { name: 'InvalidPart' },
  );
  for (const b of recorded) b.putKeys.length = 0;
  const done = await c.send(
    new CompleteMultipartUploadCommand({
      Bucket: 'mpu',
      Key: 'big',
      UploadId,
      MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
    }),
  );
  assert.match(done.ETag ?? '', /^"[0-9a-f]{32}-3"$/);
  const m = await s3.store.manifest('mpu/big');
  assert.equal(m.format, 2);
  const nameKey = shardNameKey(Buffer.alloc(32, 2));
  const owned = new Set(
    chunkOrigins(m).flatMap((o) =>
      Array.from({ length: 6 }, (_, i) =>
        shardKey(nameKey, o.objectId, o.version, o.chunk, i).toString('hex'),
      ),
    ),
  );
  const written = recorded.flatMap((b) => b.putKeys);
  assert.equal(owned.size, 6 * m.chunks.length);
  assert.deepEqual(
    written.filter((k) => owned.has(k)),
    [],
    'Complete wrote no chunk shard',
  );
  // what it wrote: the spliced manifest, the attributes (a chunk and its manifest), the
  // root (6 shards each) and the writer lock's claims
  assert.ok(written.length <= 4 * 6 + 2 * 6, `${written.length} puts`);
  const whole = Buffer.concat(parts);
  const got = await c.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'big' }));
  assert.deepEqual(await bytesOf(got.Body), whole);
  assert.equal(got.ContentType, 'text/x');
  assert.equal(got.ETag, done.ETag);
  const cut = 5 * 1024 * 1024; // the part boundaries: cut and 2 × cut + 3
  for (const [from, to] of [
    [cut - 10, cut + 9],
    [cut, cut],
    [2 * cut + 2, 2 * cut + 3],
    [cut - 1, 2 * cut + 500],
  ] as const) {
    const r = await c.send(
      new GetObjectCommand({ Bucket: 'mpu', Key: 'big', Range: `bytes=${from}-${to}` }),
    );
    assert.equal(r.ContentRange, `bytes ${from}-${to}/${whole.length}`);
    assert.deepEqual(await bytesOf(r.Body), whole.subarray(from, to + 1));
  }
  const report = await checkStore({
    backends: recorded,
    keys: { meta: Buffer.alloc(32, 2) },
    data: 4,
    parity: 2,
  });
  assert.deepEqual(report.findings, []);
  assert.equal(report.chunks, m.chunks.length + 2); // the object, its attributes, the bucket
  await assert.rejects(c.send(new ListPartsCommand({ Bucket: 'mpu', Key: 'big', UploadId })), {
    name: 'NoSuchUpload',
  });

  const before = (await s3.store.list()).map((o) => o.name);
  assert.deepEqual(
    (await c.send(new ListMultipartUploadsCommand({ Bucket: 'mpu' }))).Uploads ?? [],
    [],
  );
  const second = await c.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'gone' }));
  await c.send(
    new UploadPartCommand({
      Bucket: 'mpu',
      Key: 'gone',
      UploadId: second.UploadId,
      PartNumber: 1,
      Body: randomBytes(1000),
    }),
  );
  const open = await c.send(new ListMultipartUploadsCommand({ Bucket: 'mpu' }));
  assert.deepEqual(
    open.Uploads?.map((u) => [u.Key, u.UploadId]),
    [['gone', second.UploadId]],
  );
  await c.send(
    new AbortMultipartUploadCommand({ Bucket: 'mpu', Key: 'gone', UploadId: second.UploadId }),
  );
  assert.deepEqual(
    (await s3.store.list()).map((o) => o.name),
    before,
  );
  await assert.rejects(c.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'gone' })), {
    name: 'NoSuchKey',
  });
  // parts below 5 MiB but the last are refused, as in S3
  const small = await c.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'small' }));
  const e1 = await c.send(
    new UploadPartCommand({
      Bucket: 'mpu',
      Key: 'small',
      UploadId: small.UploadId,
      PartNumber: 1,
      Body: 'aa',
    }),
  );
  const e2 = await c.send(
    new UploadPartCommand({
      Bucket: 'mpu',
      Key: 'small',
      UploadId: small.UploadId,
      PartNumber: 2,
      Body: 'bb',
    }),
  );
  await assert.rejects(
    c.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'mpu',
        Key: 'small',
        UploadId: small.UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: e1.ETag },
            { PartNumber: 2, ETag: e2.ETag },
          ],
        },
      }),
    ),
    { name: 'EntityTooSmall' },
  );
});

test('presigned GET and PUT URLs work with plain fetch', async (t) => {
  const s3 = await startS3OverZdb(t);
  const c = s3.client();
  await c.send(new CreateBucketCommand({ Bucket: 'pre' }));
  const putUrl = await getSignedUrl(
    c,
    new PutObjectCommand({ Bucket: 'pre', Key: 'up/load.txt' }),
    { expiresIn: 60 },
  );
  const r1 = await fetch(putUrl, { method: 'PUT', body: 'sent by fetch' });
  assert.equal(r1.status, 200, await r1.text());
  const getUrl = await getSignedUrl(
    c,
    new GetObjectCommand({ Bucket: 'pre', Key: 'up/load.txt' }),
    { expiresIn: 60 },
  );
  const r2 = await fetch(getUrl);
  assert.equal(r2.status, 200);
  assert.equal(await r2.text(), 'sent by fetch');
  // the URL is for GET of that key only
  const other = await fetch(getUrl.replace('load.txt', 'other.txt'));
  assert.equal(other.status, 403);
  assert.match(await other.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
});

test('a Range at the end of a multi-chunk object fetches only the last chunk', async (t) => {
  const backends = Array.from({ length: 6 }, (_, i) => new FakeShardBackend(`b${i}`, `node${i}`));
  const s3 = await startTestS3(t, { backends, store: { chunkSize: 64 * 1024 } });
  const c = s3.client();
  await c.send(new CreateBucketCommand({ Bucket: 'rng' }));
  const body = randomBytes(10 * 64 * 1024 + 999);
  await c.send(new PutObjectCommand({ Bucket: 'rng', Key: 'big', Body: body }));
  const m = await s3.store.manifest('rng/big');
  const objectId = Buffer.from(m.objectId, 'hex');
  const nameKey = shardNameKey(Buffer.alloc(32, 2)); // the test kit's meta key
  const shardsOf = (chunk: number) =>
    Array.from({ length: 6 }, (_, i) =>
      shardKey(nameKey, objectId, m.version, chunk, i).toString('hex'),
    );
  const bodyShards = new Set(m.chunks.flatMap((_, chunk) => shardsOf(chunk)));
  for (const b of backends) b.gotKeys.length = 0;
  const got = await c.send(
    new GetObjectCommand({ Bucket: 'rng', Key: 'big', Range: `bytes=${body.length - 500}-` }),
  );
  assert.deepEqual(await bytesOf(got.Body), body.subarray(body.length - 500));
  const fetched = backends.flatMap((b) => b.gotKeys).filter((k) => bodyShards.has(k));
  // the 4 data shards of the last of the 11 chunks, and no shard of any other chunk
  assert.equal(m.chunks.length, 11);
  assert.deepEqual(fetched.sort(), shardsOf(10).slice(0, 4).sort());
});

test('overwriting an object keeps two versions and deletes the older ones with their shards', async (t) => {
  const backends = Array.from({ length: 6 }, (_, i) => new FakeShardBackend(`b${i}`, `node${i}`));
  const s3 = await startTestS3(t, { backends, store: { chunkSize: 64 * 1024 } });
  const c = s3.client();
  await c.send(new CreateBucketCommand({ Bucket: 'ver' }));
  const stored = () => backends.reduce((n, b) => n + b.values.size, 0);
  const bodies = [0, 1, 2, 3, 4].map(() => randomBytes(3 * 64 * 1024));
  const counts: number[] = [];
  for (const body of bodies) {
    await c.send(new PutObjectCommand({ Bucket: 'ver', Key: 'k', Body: body }));
    counts.push(stored());
  }
  const versions = (await s3.store.list('ver/')).map((o) => [o.name, o.version, o.versions]);
  assert.deepEqual(versions, [['ver/k', 5, 2]]);
  const attributes = (await s3.store.list('')).find((o) => o.name === attributesName('ver', 'k'));
  assert.equal(attributes?.versions, 2);
  // from the third write on, each write deletes as many shards as it adds
  assert.equal(counts[2], counts[3]);
  assert.equal(counts[3], counts[4]);
  const got = await c.send(new GetObjectCommand({ Bucket: 'ver', Key: 'k' }));
  assert.deepEqual(await bytesOf(got.Body), bodies[4]);
  assert.deepEqual(await collectBytes(s3.store.get('ver/k', 4)), bodies[3]);
  await assert.rejects(collectBytes(s3.store.get('ver/k', 3)), /no object named/);
});

async function collectBytes(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of stream) parts.push(p);
  return Buffer.concat(parts);
}
