import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ManualClock } from '../../src/core/clock.ts';
import { signHeaders, startTestS3, storeNames } from '../../src/zstor/s3/s3-test-kit.ts';
import { chunkSignature, signingKey } from '../../src/zstor/s3/sigv4.ts';

/*
 * P5 at the S3 edge: only requests signed with the user's derived secret, unchanged since
 * signing and within their time window, reach the store. Each refusal is checked for its
 * S3 error code and for leaving the store exactly as it was.
 */

async function setup(t: Parameters<typeof startTestS3>[0]) {
  const clock = new ManualClock(Date.now());
  const s3 = await startTestS3(t, { clock });
  const c = s3.client();
  await c.send(new CreateBucketCommand({ Bucket: 'safe' }));
  await c.send(new PutObjectCommand({ Bucket: 'safe', Key: 'kept', Body: 'original' }));
  return { s3, c, clock, before: await storeNames(s3.store) };
}

async function read(c: S3Client, key: string): Promise<string> {
  const r = await c.send(new GetObjectCommand({ Bucket: 'safe', Key: key }));
  return r.Body!.transformToString();
}

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

test('a wrong secret is refused with SignatureDoesNotMatch and writes nothing', async (t) => {
  const { s3, c, before } = await setup(t);
  const wrong = s3.client({
    ...s3.credentials,
    secretAccessKey: `${s3.credentials.secretAccessKey.slice(0, -1)}A`,
  });
  await assert.rejects(
    wrong.send(new PutObjectCommand({ Bucket: 'safe', Key: 'kept', Body: 'evil' })),
    {
      name: 'SignatureDoesNotMatch',
    },
  );
  await assert.rejects(
    wrong.send(new PutObjectCommand({ Bucket: 'safe', Key: 'new', Body: 'evil' })),
    {
      name: 'SignatureDoesNotMatch',
    },
  );
  const stranger = s3.client({
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'x'.repeat(40),
  });
  await assert.rejects(stranger.send(new ListBucketsCommand({})), { name: 'InvalidAccessKeyId' });
  assert.deepEqual(await storeNames(s3.store), before);
  assert.equal(await read(c, 'kept'), 'original');
});

test('a signed header changed after signing is refused; an unsigned x-amz header too', async (t) => {
  const { s3, c, before } = await setup(t);
  const tamper = (name: string, value: string) => {
    const client = s3.client();
    client.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { headers: Record<string, string> }).headers[name] = value;
        return next(args);
      },
      { step: 'deserialize', name: 'tamperAfterSigning' },
    );
    return client;
  };
  const put = (client: S3Client) =>
    client.send(
      new PutObjectCommand({ Bucket: 'safe', Key: 'kept', Body: 'evil', Metadata: { who: 'ann' } }),
    );
  await assert.rejects(put(tamper('x-amz-meta-who', 'mallory')), {
    name: 'SignatureDoesNotMatch',
  });
  await assert.rejects(put(tamper('content-type', 'text/html')), {
    name: 'SignatureDoesNotMatch',
  });
  await assert.rejects(put(tamper('x-amz-meta-extra', 'added')), {
    name: 'AccessDenied',
  });
  assert.deepEqual(await storeNames(s3.store), before);
  assert.equal(await read(c, 'kept'), 'original');
});

test('a body that differs from the signed x-amz-content-sha256 or Content-MD5 is refused and not stored', async (t) => {
  const { s3, c, before } = await setup(t);
  const res = await fetch(`${s3.server.url}/safe/kept`, {
    method: 'PUT',
    headers: signHeaders(s3, 'PUT', '/safe/kept', sha256('the signed body')),
    body: 'a swapped body',
  });
  assert.equal(res.status, 400);
  assert.match(await res.text(), /<Code>XAmzContentSHA256Mismatch<\/Code>/);
  const md5 = await fetch(`${s3.server.url}/safe/other`, {
    method: 'PUT',
    headers: {
      ...signHeaders(s3, 'PUT', '/safe/other', 'UNSIGNED-PAYLOAD', {
        'content-md5': createHash('md5').update('expected').digest('base64'),
      }),
    },
    body: 'not expected',
  });
  assert.equal(md5.status, 400);
  assert.match(await md5.text(), /<Code>BadDigest<\/Code>/);
  assert.deepEqual(await storeNames(s3.store), before);
  assert.equal(await read(c, 'kept'), 'original');
  // the same signer is accepted with the right body: the refusals were about the body
  const ok = await fetch(`${s3.server.url}/safe/fine`, {
    method: 'PUT',
    headers: signHeaders(s3, 'PUT', '/safe/fine', sha256('the signed body')),
    body: 'the signed body',
  });
  assert.equal(ok.status, 200, await ok.text());
});

test('an expired presigned GET URL is refused', async (t) => {
  const { c, clock } = await setup(t);
  const url = await getSignedUrl(c, new GetObjectCommand({ Bucket: 'safe', Key: 'kept' }), {
    expiresIn: 60,
  });
  assert.equal(await (await fetch(url)).text(), 'original');
  clock.advance(Date.now() + 61_000 - clock.now()); // 61 s past the signing time
  const late = await fetch(url);
  assert.equal(late.status, 403);
  const text = await late.text();
  assert.match(text, /<Code>AccessDenied<\/Code>/);
  assert.match(text, /expired/);
  assert.doesNotMatch(text, /original/);
});

test('a presigned PUT URL replayed after it expired is refused and changes nothing', async (t) => {
  const { s3, c, clock } = await setup(t);
  const url = await getSignedUrl(c, new PutObjectCommand({ Bucket: 'safe', Key: 'up' }), {
    expiresIn: 30,
  });
  assert.equal((await fetch(url, { method: 'PUT', body: 'first' })).status, 200);
  const after = await storeNames(s3.store);
  // 31 s past the signing time, wherever the (manual) server clock stands after setup
  clock.advance(Date.now() + 31_000 - clock.now());
  const replay = await fetch(url, { method: 'PUT', body: 'replayed' });
  assert.equal(replay.status, 403);
  assert.match(await replay.text(), /<Code>AccessDenied<\/Code>/);
  assert.deepEqual(await storeNames(s3.store), after);
  assert.equal(await read(c, 'up'), 'first');
});

test('requests without authentication are refused with AccessDenied and write nothing', async (t) => {
  const { s3, before } = await setup(t);
  for (const [method, path, body] of [
    ['GET', '/', undefined],
    ['GET', '/safe/kept', undefined],
    ['PUT', '/safe/anon', 'anonymous'],
    ['PUT', '/anonbucket', undefined],
    ['DELETE', '/safe/kept', undefined],
  ] as const) {
    const res = await fetch(
      `${s3.server.url}${path}`,
      body === undefined ? { method } : { method, body },
    );
    assert.equal(res.status, 403, `${method} ${path}`);
    const text = await res.text();
    assert.match(text, /<Code>AccessDenied<\/Code>/);
    assert.doesNotMatch(text, /original/);
  }
  assert.deepEqual(await storeNames(s3.store), before);
});

test('a request signed 20 minutes off the server clock is refused with RequestTimeTooSkewed', async (t) => {
  const { s3, c, clock, before } = await setup(t);
  clock.advance(20 * 60_000);
  await assert.rejects(
    c.send(new PutObjectCommand({ Bucket: 'safe', Key: 'kept', Body: 'late' })),
    {
      name: 'RequestTimeTooSkewed',
    },
  );
  clock.advance(-20 * 60_000);
  assert.deepEqual(await storeNames(s3.store), before);
});

test('a signed-chunk upload is stored when every chunk signature chains, refused when one chunk changed', async (t) => {
  const { s3, c, before } = await setup(t);
  const data = randomBytes(200_000);
  const upload = async (key: string, tamper: boolean) => {
    const path = `/safe/${key}`;
    const headers = signHeaders(s3, 'PUT', path, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', {
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': String(data.length),
    });
    const seed = /Signature=([0-9a-f]{64})/.exec(headers.authorization!)![1]!;
    const amzDate = headers['x-amz-date']!;
    const signing = {
      key: signingKey(s3.credentials.secretAccessKey, amzDate.slice(0, 8), 'us-east-1', 's3'),
      amzDate,
      scope: `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`,
      seed,
    };
    const parts: Buffer[] = [];
    let previous = seed;
    const chunks = [
      data.subarray(0, 65536),
      data.subarray(65536, 131072),
      data.subarray(131072),
      Buffer.alloc(0),
    ];
    for (const [n, chunk] of chunks.entries()) {
      const sig = chunkSignature(signing, previous, sha256(chunk));
      previous = sig;
      const sent = Buffer.from(chunk);
      if (tamper && n === 1) sent[0]! ^= 1; // one bit of the second chunk
      parts.push(
        Buffer.from(`${chunk.length.toString(16)};chunk-signature=${sig}\r\n`),
        sent,
        Buffer.from('\r\n'),
      );
    }
    return fetch(`${s3.server.url}${path}`, { method: 'PUT', headers, body: Buffer.concat(parts) });
  };
  const bad = await upload('chunked', true);
  assert.equal(bad.status, 403);
  assert.match(await bad.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
  assert.deepEqual(await storeNames(s3.store), before);
  const good = await upload('chunked', false);
  assert.equal(good.status, 200, await good.text());
  const got = await c.send(new GetObjectCommand({ Bucket: 'safe', Key: 'chunked' }));
  assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), data);
});
