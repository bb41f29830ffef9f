import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { test } from 'node:test';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { signHeaders, startTestS3, storeNames } from '../../src/zstor/s3/s3-test-kit.ts';

/*
 * Every malformed input at the S3 edge gets a clear S3 error, never a crash, and none of
 * them changes the store; the server keeps answering afterwards.
 */

const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

async function setup(t: Parameters<typeof startTestS3>[0]) {
  const s3 = await startTestS3(t, {
    limits: { maxObjectBytes: 1024 * 1024, maxXmlBytes: 64 * 1024 },
  });
  const c = s3.client();
  await c.send(new CreateBucketCommand({ Bucket: 'safe' }));
  await c.send(new PutObjectCommand({ Bucket: 'safe', Key: 'kept', Body: 'original' }));
  return { s3, c };
}

async function send(
  s3: Awaited<ReturnType<typeof setup>>['s3'],
  method: string,
  url: string,
  body: string | Buffer = '',
  extra: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${s3.server.url}${url}`, {
    method,
    headers: signHeaders(s3, method, url, extra['x-amz-content-sha256'] ?? sha256(body), extra),
    ...(method === 'GET' || method === 'HEAD' ? {} : { body }),
  });
  return { status: res.status, text: await res.text() };
}

test('malformed requests get S3 errors with their statuses and change nothing', async (t) => {
  const { s3, c } = await setup(t);
  const before = await storeNames(s3.store);
  const { UploadId } = await c.send(
    new CreateMultipartUploadCommand({ Bucket: 'safe', Key: 'mp' }),
  );
  const withUpload = await storeNames(s3.store);
  const cases: [string, string, string | Buffer, number, string][] = [
    [
      'POST',
      `/safe/mp?uploadId=${UploadId}`,
      '<CompleteMultipartUpload><Part>',
      400,
      'MalformedXML',
    ],
    [
      'POST',
      `/safe/mp?uploadId=${UploadId}`,
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><CompleteMultipartUpload/>',
      400,
      'MalformedXML',
    ],
    ['POST', `/safe/mp?uploadId=${UploadId}`, '<Other/>', 400, 'MalformedXML'],
    [
      'POST',
      `/safe/mp?uploadId=${UploadId}`,
      `<CompleteMultipartUpload>${'<Part>'.repeat(20)}`,
      400,
      'MalformedXML',
    ],
    ['POST', `/safe/mp?uploadId=${UploadId}`, 'x'.repeat(70 * 1024), 400, 'EntityTooLarge'],
    [
      'POST',
      '/safe/mp?uploadId=00000000000000000000000000000000',
      '<CompleteMultipartUpload/>',
      404,
      'NoSuchUpload',
    ],
    ['PUT', `/safe/mp?uploadId=${UploadId}&partNumber=0`, 'x', 400, 'InvalidArgument'],
    ['PUT', `/safe/mp?uploadId=${UploadId}&partNumber=10001`, 'x', 400, 'InvalidArgument'],
    ['PUT', '/safe/big', randomBytes(1024 * 1024 + 1), 400, 'EntityTooLarge'],
    ['PUT', `/safe/${'k'.repeat(901)}`, 'x', 400, 'KeyTooLongError'],
    ['PUT', '/nobucket/x', 'x', 404, 'NoSuchBucket'],
    ['PUT', '/Bad_Bucket', '', 400, 'InvalidBucketName'],
    ['PUT', '/safe?acl', '', 501, 'NotImplemented'],
    ['GET', '/safe/kept?tagging', '', 501, 'NotImplemented'],
    ['GET', '/safe?list-type=2&max-keys=-1', '', 400, 'InvalidArgument'],
    ['GET', '/safe?list-type=2&continuation-token=%21%21', '', 400, 'InvalidArgument'],
    ['GET', '/safe?list-type=3', '', 400, 'InvalidArgument'],
    ['PATCH', '/safe/kept', '', 405, 'MethodNotAllowed'],
    ['PUT', '/safe/copy', '', 400, 'InvalidArgument'],
  ];
  for (const [method, url, body, status, code] of cases) {
    const extra: Record<string, string> =
      url === '/safe/copy' ? { 'x-amz-copy-source': 'no-slash' } : {};
    const r = await send(s3, method, url, body, extra);
    assert.equal(r.status, status, `${method} ${url.slice(0, 60)}: ${r.text}`);
    assert.match(r.text, new RegExp(`<Code>${code}</Code>`), `${method} ${url.slice(0, 60)}`);
  }
  // a percent-encoding that does not decode
  const bad = await fetch(`${s3.server.url}/safe/%E0%A4%A`, {
    headers: signHeaders(s3, 'GET', '/safe/k', sha256('')),
  });
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /<Code>InvalidArgument<\/Code>/);
  assert.deepEqual(await storeNames(s3.store), withUpload);
  assert.notDeepEqual(before, withUpload);
  const still = await c.send(new GetObjectCommand({ Bucket: 'safe', Key: 'kept' }));
  assert.equal(await still.Body!.transformToString(), 'original');
});

test('a body streamed past the size limit, or with broken aws-chunked framing, is refused mid-stream', async (t) => {
  const { s3, c } = await setup(t);
  const before = await storeNames(s3.store);
  async function* endless() {
    for (let i = 0; i < 64; i++) yield randomBytes(64 * 1024);
  }
  const big = await fetch(`${s3.server.url}/safe/stream`, {
    method: 'PUT',
    headers: signHeaders(s3, 'PUT', '/safe/stream', 'UNSIGNED-PAYLOAD'),
    body: ReadableStream.from(endless()),
    duplex: 'half',
  } as RequestInit);
  assert.equal(big.status, 400);
  assert.match(await big.text(), /<Code>EntityTooLarge<\/Code>/);
  for (const framing of ['zz\r\nabc\r\n0\r\n\r\n', '3\r\nabcXY0\r\n\r\n', '5\r\nab']) {
    const r = await send(s3, 'PUT', '/safe/chunked', framing, {
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'content-encoding': 'aws-chunked',
    });
    assert.equal(r.status, 400, framing);
    assert.match(r.text, /<Code>(InvalidArgument|IncompleteBody)<\/Code>/);
  }
  // signed chunks: a chunk whose signature does not chain from the request's is refused
  const forged = `3;chunk-signature=${'0'.repeat(64)}\r\nabc\r\n0;chunk-signature=${'0'.repeat(64)}\r\n\r\n`;
  const signedChunks = await send(s3, 'PUT', '/safe/chunked', forged, {
    'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
    'content-encoding': 'aws-chunked',
    'x-amz-decoded-content-length': '3',
  });
  assert.equal(signedChunks.status, 403);
  assert.match(signedChunks.text, /<Code>SignatureDoesNotMatch<\/Code>/);
  assert.deepEqual(await storeNames(s3.store), before);
  assert.equal(
    await (
      await c.send(new GetObjectCommand({ Bucket: 'safe', Key: 'kept' }))
    ).Body!.transformToString(),
    'original',
  );
});

test('a header section over 16 KiB is refused by the server before any handler runs', async (t) => {
  const { s3 } = await setup(t);
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(
      `${s3.server.url}/safe/kept`,
      { headers: { 'x-filler': 'f'.repeat(20 * 1024) } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 431);
});

test('clients that hang up mid-upload or mid-download leave nothing behind and the server serving', async (t) => {
  const { s3, c } = await setup(t);
  await c.send(
    new PutObjectCommand({ Bucket: 'safe', Key: 'big', Body: randomBytes(1024 * 1024) }),
  );
  const before = await storeNames(s3.store);
  // download: read the first bytes, then hang up
  const ctl = new AbortController();
  const res = await fetch(`${s3.server.url}/safe/big`, {
    headers: signHeaders(s3, 'GET', '/safe/big', sha256('')),
    signal: ctl.signal,
  });
  const reader = res.body!.getReader();
  await reader.read();
  ctl.abort();
  // upload: declare 512 KiB, send 64 KiB, hang up
  await new Promise<void>((resolve) => {
    const req = request(`${s3.server.url}/safe/cut`, {
      method: 'PUT',
      headers: {
        ...signHeaders(s3, 'PUT', '/safe/cut', 'UNSIGNED-PAYLOAD'),
        'content-length': String(512 * 1024),
      },
    });
    req.on('error', () => resolve());
    req.write(randomBytes(64 * 1024), () => {
      req.destroy();
      resolve();
    });
  });
  // the server still answers, and nothing changed
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(await storeNames(s3.store), before);
  const again = await c.send(new GetObjectCommand({ Bucket: 'safe', Key: 'big' }));
  assert.equal((await again.Body!.transformToByteArray()).length, 1024 * 1024);
});
