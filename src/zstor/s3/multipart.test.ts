import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { type TestContext, test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListPartsCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { checkStore, type MaintenanceTarget } from '../check.ts';
import { collectGarbage } from '../garbage-collect.ts';
import { chunkOrigins } from '../object-manifest.ts';
import { RecordingBackend } from '../recording-backend.ts';
import { isHealthy } from '../repair.ts';
import { fakeBackends, sampleBytes, TEST_KEYS } from '../test-support.ts';
import { lockKey } from '../writer-lock.ts';
import { rootKey, shardKey, shardNameKey } from '../zstor-keys.ts';
import { startTestS3 } from './s3-test-kit.ts';

/*
 * CompleteMultipartUpload splices the parts (docs/zstor.md, "Multipart completion"): driven
 * by the AWS SDK over in-memory backends that record every write. test/e2e/s3-aws-sdk.test.ts
 * does the same over six zdb servers.
 */

const CHUNK = 16 * 1024;
const NAME_KEY = shardNameKey(TEST_KEYS.meta);
const FIXED = new Set(
  [rootKey(NAME_KEY, 0), rootKey(NAME_KEY, 1), lockKey(NAME_KEY)].map((k) => k.toString('hex')),
);

async function setup(t: TestContext) {
  const fakes = fakeBackends(6);
  const backends = fakes.map((b) => new RecordingBackend(b));
  const s3 = await startTestS3(t, {
    backends,
    store: { chunkSize: CHUNK, lock: { settleMs: 10 } },
    limits: { minPartBytes: 20_000 },
  });
  const meta: MaintenanceTarget = {
    backends,
    keys: { meta: TEST_KEYS.meta },
    data: 4,
    parity: 2,
    lock: { settleMs: 10 },
  };
  /** backend/key of every value but the root slots and the lock record. */
  const stored = () =>
    new Set(
      fakes.flatMap((b) =>
        [...b.values.keys()].filter((k) => !FIXED.has(k)).map((k) => `${b.id}/${k}`),
      ),
    );
  const c = s3.client();
  await c.send(new CreateBucketCommand({ Bucket: 'mpu' }));
  return { fakes, backends, s3, c, meta, stored };
}

async function upload(c: S3Client, key: string, parts: Buffer[]) {
  const { UploadId } = await c.send(
    new CreateMultipartUploadCommand({
      Bucket: 'mpu',
      Key: key,
      ContentType: 'text/x',
      Metadata: { owner: 'ann' },
    }),
  );
  const etags: string[] = [];
  for (const [i, p] of parts.entries())
    etags.push(
      (
        await c.send(
          new UploadPartCommand({ Bucket: 'mpu', Key: key, UploadId, PartNumber: i + 1, Body: p }),
        )
      ).ETag!,
    );
  return { UploadId: UploadId!, etags };
}

const complete = (c: S3Client, key: string, UploadId: string, etags: string[]) =>
  c.send(
    new CompleteMultipartUploadCommand({
      Bucket: 'mpu',
      Key: key,
      UploadId,
      MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
    }),
  );

async function get(c: S3Client, key: string, Range?: string) {
  const r = await c.send(new GetObjectCommand({ Bucket: 'mpu', Key: key, Range }));
  return { r, body: Buffer.from(await r.Body!.transformToByteArray()) };
}

test('Complete splices the parts: no chunk shard written, reads whole and across part boundaries, delete frees every shard', async (t) => {
  const { backends, s3, c, meta, stored } = await setup(t);
  const baseline = stored();
  const parts = [randomBytes(50_000), sampleBytes(40_000), randomBytes(7_000)];
  // a fourth part is uploaded but not listed: Complete drops it, as S3 does
  const { UploadId, etags } = await upload(c, 'big', [...parts, randomBytes(1000)]);
  for (const b of backends) b.putKeys.length = 0;
  const done = await complete(c, 'big', UploadId, etags.slice(0, 3));
  const md5s = Buffer.concat(etags.slice(0, 3).map((e) => Buffer.from(e.replace(/"/g, ''), 'hex')));
  assert.equal(done.ETag, `"${createHash('md5').update(md5s).digest('hex')}-3"`);

  const m = await s3.store.manifest('mpu/big');
  assert.equal(m.format, 2);
  const owned = new Set(
    chunkOrigins(m).flatMap((o) =>
      Array.from({ length: 6 }, (_, i) =>
        shardKey(NAME_KEY, o.objectId, o.version, o.chunk, i).toString('hex'),
      ),
    ),
  );
  assert.equal(owned.size, 6 * m.chunks.length);
  const written = backends.flatMap((b) => b.putKeys);
  assert.deepEqual(
    written.filter((k) => owned.has(k)),
    [],
    'Complete wrote no chunk shard of the object',
  );

  const whole = Buffer.concat(parts);
  const got = await get(c, 'big');
  assert.deepEqual(got.body, whole);
  assert.equal(got.r.ETag, done.ETag);
  assert.equal(got.r.ContentType, 'text/x');
  assert.deepEqual(got.r.Metadata, { owner: 'ann' });
  for (const [from, to] of [
    [49_990, 50_009],
    [49_999, 50_000],
    [89_999, 90_000],
    [16_380, 90_003],
    [0, whole.length - 1],
  ] as const) {
    const r = await get(c, 'big', `bytes=${from}-${to}`);
    assert.equal(r.r.ContentRange, `bytes ${from}-${to}/${whole.length}`);
    assert.deepEqual(r.body, whole.subarray(from, to + 1));
  }
  // the upload's record, parts and markers went in the same commit
  assert.deepEqual(
    (await s3.store.list('.s3/')).map((o) => o.name),
    ['.s3/bucket/mpu', '.s3/meta/mpu/big'],
  );
  await assert.rejects(c.send(new ListPartsCommand({ Bucket: 'mpu', Key: 'big', UploadId })), {
    name: 'NoSuchUpload',
  });
  const report = await checkStore(meta);
  assert.ok(isHealthy(report), JSON.stringify(report.findings));
  assert.equal((await collectGarbage(meta)).orphans, 0);

  await c.send(new DeleteObjectCommand({ Bucket: 'mpu', Key: 'big' }));
  assert.deepEqual(stored(), baseline, 'every shard the upload wrote is gone');
  assert.equal((await collectGarbage(meta)).orphans, 0);
});

test('a Complete that dies before its commit leaves the upload whole: it can be completed again, and gc takes the rest', async (t) => {
  const { backends, c, meta, stored } = await setup(t);
  const parts = [randomBytes(30_000), randomBytes(9_000)];
  const { UploadId, etags } = await upload(c, 'big', parts);
  const before = stored();
  const roots = new Set([...FIXED].slice(0, 2));
  for (const b of backends.slice(0, 3)) b.failPut = (k) => roots.has(k.toString('hex'));
  await assert.rejects(
    complete(c, 'big', UploadId, etags),
    (e: Error & { $metadata: { httpStatusCode: number } }) => e.$metadata.httpStatusCode === 503,
  );
  for (const b of backends) b.failPut = undefined;
  const listed = await c.send(new ListPartsCommand({ Bucket: 'mpu', Key: 'big', UploadId }));
  assert.deepEqual(
    listed.Parts?.map((p) => [p.PartNumber, p.Size]),
    [
      [1, 30_000],
      [2, 9_000],
    ],
  );
  await assert.rejects(get(c, 'big'), { name: 'NoSuchKey' });
  // the spliced manifest and the attributes object (a chunk and a manifest) never committed
  const gc = await collectGarbage(meta);
  assert.equal(gc.orphans, 3 * 6);
  assert.deepEqual(stored(), before);
  const done = await complete(c, 'big', UploadId, etags);
  assert.match(done.ETag ?? '', /^"[0-9a-f]{32}-2"$/);
  assert.deepEqual((await get(c, 'big')).body, Buffer.concat(parts));
});
