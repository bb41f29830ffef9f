import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { decodeAwsChunked, meteredBody } from './body-stream.ts';

async function drain(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const p of it) out.push(p);
  return Buffer.concat(out);
}

async function* split(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

const framed = Buffer.from(
  '5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n',
);

test('aws-chunked decodes whatever the piece boundaries, and keeps the trailers', async () => {
  for (const size of [1, 2, 3, 7, 1000]) {
    const d = decodeAwsChunked(split(framed, size));
    assert.equal((await drain(d.pieces)).toString(), 'hello world');
    assert.equal(d.trailers.get('x-amz-checksum-crc32'), 'AAAAAA==');
  }
});

test('aws-chunked refuses a broken framing', async () => {
  for (const bad of [
    'x\r\n',
    '5\r\nhelloXX0\r\n\r\n',
    '5\r\nhel',
    '0\r\nno-colon\r\n\r\n',
    '0\r\n',
  ]) {
    await assert.rejects(drain(decodeAwsChunked(split(Buffer.from(bad), 4)).pieces), {
      code: 'S3_INVALID_ARGUMENT',
    });
  }
});

test('a metered body reports size and MD5, and refuses mismatches before it ends', async () => {
  const body = Buffer.from('some body');
  const ok = meteredBody(split(body, 2), {
    maxBytes: 100,
    length: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
    md5Base64: createHash('md5').update(body).digest('base64'),
  });
  assert.deepEqual(await drain(ok.pieces), body);
  assert.deepEqual(ok.result(), {
    size: body.length,
    md5: createHash('md5').update(body).digest('hex'),
  });
  const cases: [Parameters<typeof meteredBody>[1], string][] = [
    [{ maxBytes: 4 }, 'S3_ENTITY_TOO_LARGE'],
    [{ maxBytes: 100, length: 20 }, 'S3_INCOMPLETE_BODY'],
    [{ maxBytes: 100, length: 3 }, 'S3_INVALID_ARGUMENT'],
    [{ maxBytes: 100, sha256: '0'.repeat(64) }, 'S3_CONTENT_SHA256_MISMATCH'],
    [{ maxBytes: 100, md5Base64: 'AAAA' }, 'S3_BAD_DIGEST'],
    [
      { maxBytes: 100, checksum: { algorithm: 'crc32', expected: () => 'AAAAAA==' } },
      'S3_BAD_DIGEST',
    ],
  ];
  for (const [checks, code] of cases)
    await assert.rejects(drain(meteredBody(split(body, 2), checks).pieces), { code });
});
