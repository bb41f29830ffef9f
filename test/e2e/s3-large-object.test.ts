import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { type TestContext, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startTestS3 } from '../../src/zstor/s3/s3-test-kit.ts';
import { ZdbShardBackend } from '../../src/zstor/zdb-backend.ts';
import { startZdbNodes } from '../../src/zstor/zdb-backend-test-kit.ts';

/*
 * Bounded memory at the S3 edge: an object much larger than the memory allowed for it goes
 * in and out through the AWS SDK (streamed both ways) over six zdb servers. The size is
 * VDC_S3_LARGE_MIB (default 192); memory growth must stay under a fixed bound that is far
 * below the object's size.
 */

const MiB = 1024 * 1024;
const SIZE = Number(process.env.VDC_S3_LARGE_MIB ?? 192) * MiB;
const BOUND = 160 * MiB;

/** Deterministic pseudo-random pieces, made on the fly (never the whole object at once). */
function* pieces(size: number): Generator<Buffer> {
  let x = 0x12345678;
  for (let done = 0; done < size; ) {
    const n = Math.min(MiB, size - done);
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b.writeInt32LE(x | 0, i);
    }
    done += n;
    yield b;
  }
}

async function s3OverZdb(t: TestContext) {
  const nodes = await startZdbNodes(t, 6);
  const backends = nodes.map((n) => new ZdbShardBackend(n.backend));
  t.after(() => {
    for (const b of backends) b.close();
  });
  return startTestS3(t, { backends, store: { chunkSize: 4 * MiB, compressionLevel: 0 } });
}

test('a large object streams in and out through the AWS SDK in bounded memory', async (t) => {
  const s3 = await s3OverZdb(t);
  const c = s3.client();
  await c.send(new CreateBucketCommand({ Bucket: 'large' }));
  const want = createHash('sha256');
  for (const p of pieces(SIZE)) want.update(p);
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  t.after(() => clearInterval(timer));
  const t0 = performance.now();
  await c.send(
    new PutObjectCommand({
      Bucket: 'large',
      Key: 'big.bin',
      Body: Readable.from(pieces(SIZE)),
      ContentLength: SIZE,
    }),
  );
  const t1 = performance.now();
  const got = await c.send(new GetObjectCommand({ Bucket: 'large', Key: 'big.bin' }));
  const have = createHash('sha256');
  let n = 0;
  for await (const p of got.Body as AsyncIterable<Buffer>) {
    have.update(p);
    n += p.length;
  }
  clearInterval(timer);
  const t2 = performance.now();
  // figures for the report only (no timing assertion): MB = 10^6 bytes
  t.diagnostic(
    `put ${(SIZE / 1e3 / (t1 - t0)).toFixed(0)} MB/s, get ${(SIZE / 1e3 / (t2 - t1)).toFixed(0)} MB/s`,
  );
  assert.equal(n, SIZE);
  assert.equal(have.digest('hex'), want.digest('hex'));
  const growth = peak - base;
  t.diagnostic(`object ${SIZE / MiB} MiB, RSS growth ${(growth / MiB).toFixed(0)} MiB`);
  assert.ok(
    growth < BOUND,
    `RSS grew by ${(growth / MiB).toFixed(0)} MiB for a ${SIZE / MiB} MiB object`,
  );
});
