import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { CliIo } from '../../src/cli/cli-io.ts';
import { type S3Keys, s3Command } from '../../src/cli/s3-command.ts';
import { s3CredentialsFromKey } from '../../src/zstor/s3/index.ts';
import { startZdbNodes, writeStoreConfig } from '../../src/zstor/zdb-backend-test-kit.ts';
import { requireCommand } from '../support/requirements.ts';

/*
 * `vdc s3 serve` end to end: the command over a YAML config of six real zdb servers
 * (4+2), driven by the AWS SDK and by Debian's s3cmd.
 */

const run = promisify(execFile);

const KEYS: S3Keys = {
  data: Buffer.alloc(32, 11),
  meta: Buffer.alloc(32, 12),
  s3: Buffer.alloc(32, 13),
};

function testIo(): CliIo & { output: string[] } {
  const output: string[] = [];
  return {
    output,
    out: (s) => output.push(s),
    err: () => {},
    readStdin: async () => Buffer.alloc(0),
    stdinIsTty: false,
    env: {},
  };
}

async function serve(t: TestContext): Promise<{ url: string; port: number; dir: string }> {
  const nodes = await startZdbNodes(t, 6);
  const dir = nodes[0]!.dir;
  const config = writeStoreConfig(join(dir, 'store.yaml'), nodes, {
    data: 4,
    parity: 2,
    chunkSize: 1024 * 1024,
  });
  const stop = new AbortController();
  const io = testIo();
  let done: Promise<unknown> = Promise.resolve();
  t.after(async () => {
    stop.abort();
    await done;
  });
  const server = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    const cmd = s3Command(io, {
      keys: async () => KEYS,
      signal: stop.signal,
      onListening: resolve,
    });
    cmd.exitOverride();
    done = cmd
      .parseAsync(['serve', '--config', config, '--listen', '127.0.0.1:0', '--json'], {
        from: 'user',
      })
      .catch(reject);
  });
  const printed = JSON.parse(io.output.join('')) as { url: string; accessKeyId: string };
  assert.equal(printed.url, server.url);
  assert.equal(printed.accessKeyId, s3CredentialsFromKey(KEYS.s3).accessKeyId);
  return { ...server, dir };
}

test('`s3 credentials` prints the pair derived from vdc/s3/0', async () => {
  const io = testIo();
  const cmd = s3Command(io, { keys: async () => KEYS });
  cmd.exitOverride();
  await cmd.parseAsync(['credentials', '--json'], { from: 'user' });
  const printed = JSON.parse(io.output.join('')) as Record<string, string>;
  assert.deepEqual(printed, { ...s3CredentialsFromKey(KEYS.s3) });
  assert.match(printed.accessKeyId!, /^VDC[A-Z2-7]{17}$/);
  assert.match(printed.secretAccessKey!, /^[A-Za-z0-9_-]{40}$/);
});

test('`s3 serve` over six zdb servers: the AWS SDK streams objects in and out', async (t) => {
  const { url } = await serve(t);
  const c = new S3Client({
    endpoint: url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: s3CredentialsFromKey(KEYS.s3),
    maxAttempts: 1,
  });
  t.after(() => c.destroy());
  await c.send(new CreateBucketCommand({ Bucket: 'zdb-bucket' }));
  const body = randomBytes(2 * 1024 * 1024 + 99);
  // A stream of unknown length goes out aws-chunked, with a trailing checksum.
  await c.send(
    new PutObjectCommand({
      Bucket: 'zdb-bucket',
      Key: 'streamed.bin',
      Body: Readable.from([body.subarray(0, 1_000_000), body.subarray(1_000_000)]),
      ContentLength: body.length,
    }),
  );
  const got = await c.send(new GetObjectCommand({ Bucket: 'zdb-bucket', Key: 'streamed.bin' }));
  assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), body);
  const list = await c.send(new ListObjectsV2Command({ Bucket: 'zdb-bucket' }));
  assert.deepEqual(
    list.Contents?.map((o) => [o.Key, o.Size]),
    [['streamed.bin', body.length]],
  );
});

test('`s3 serve` over six zdb servers: s3cmd makes a bucket, puts (also multipart), lists, gets and deletes', async (t) => {
  if (!requireCommand(t, 's3cmd')) return;
  const { port, dir } = await serve(t);
  const creds = s3CredentialsFromKey(KEYS.s3);
  const cfg = join(dir, 's3cmd.cfg');
  writeFileSync(
    cfg,
    [
      '[default]',
      `access_key = ${creds.accessKeyId}`,
      `secret_key = ${creds.secretAccessKey}`,
      `host_base = 127.0.0.1:${port}`,
      `host_bucket = 127.0.0.1:${port}`,
      'use_https = False',
      'signature_v2 = False',
      'bucket_location = us-east-1',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const s3cmd = (...args: string[]) =>
    run('s3cmd', ['-c', cfg, '--no-progress', ...args], {
      timeout: 60_000,
      env: { ...process.env, HOME: dir },
    });
  const file = join(dir, 'upload.bin');
  const body = randomBytes(1_500_000);
  writeFileSync(file, body);
  await s3cmd('mb', 's3://cmd-bucket');
  const put = await s3cmd('put', file, 's3://cmd-bucket/dir/upload.bin');
  assert.doesNotMatch(put.stderr, /WARNING|ERROR/, put.stderr);
  const ls = await s3cmd('ls', 's3://cmd-bucket/dir/');
  assert.match(ls.stdout, /1500000\s+s3:\/\/cmd-bucket\/dir\/upload\.bin/);
  const out = join(dir, 'download.bin');
  const get = await s3cmd('get', 's3://cmd-bucket/dir/upload.bin', out);
  assert.doesNotMatch(get.stderr, /WARNING|ERROR/, get.stderr);
  assert.deepEqual(readFileSync(out), body);
  const buckets = await s3cmd('ls');
  assert.match(buckets.stdout, /s3:\/\/cmd-bucket/);
  // s3cmd's own multipart upload (5 MiB parts), then delete
  const large = randomBytes(11 * 1024 * 1024 + 7);
  writeFileSync(file, large);
  const mput = await s3cmd('put', '--multipart-chunk-size-mb=5', file, 's3://cmd-bucket/large.bin');
  assert.doesNotMatch(mput.stderr, /WARNING|ERROR/, mput.stderr);
  const c = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: creds,
  });
  t.after(() => c.destroy());
  const head = await c.send(new HeadObjectCommand({ Bucket: 'cmd-bucket', Key: 'large.bin' }));
  assert.match(head.ETag ?? '', /^"[0-9a-f]{32}-3"$/); // stored by a 3-part multipart upload
  await s3cmd('get', '--force', 's3://cmd-bucket/large.bin', out);
  assert.deepEqual(readFileSync(out), large);
  await s3cmd('del', 's3://cmd-bucket/large.bin');
  const after = await s3cmd('ls', 's3://cmd-bucket/');
  assert.doesNotMatch(after.stdout, /large\.bin/);
});
