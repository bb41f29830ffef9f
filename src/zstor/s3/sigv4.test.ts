import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAwsChunked } from './body-stream.ts';
import { EMPTY_SHA256, type SignableRequest, uriEncode, verifySigV4 } from './sigv4.ts';

/*
 * The worked examples of the AWS S3 documentation ("Examples: Signature Calculations in AWS
 * Signature Version 4", examplebucket, 2013-05-24): our verifier must accept exactly these
 * signatures, and refuse each one changed in any covered part.
 */

const ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const NOW = Date.UTC(2013, 4, 24, 0, 5, 0);
const opts = { secretOf: (id: string) => (id === ID ? SECRET : undefined), now: NOW };
const HOST: [string, string] = ['Host', 'examplebucket.s3.amazonaws.com'];

function headerAuth(signed: string, sig: string): [string, string] {
  return [
    'Authorization',
    `AWS4-HMAC-SHA256 Credential=${ID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=${signed},Signature=${sig}`,
  ];
}

const getObject: SignableRequest = {
  method: 'GET',
  url: '/test.txt',
  headers: [
    HOST,
    ['Range', 'bytes=0-9'],
    ['x-amz-content-sha256', EMPTY_SHA256],
    ['x-amz-date', '20130524T000000Z'],
    headerAuth(
      'host;range;x-amz-content-sha256;x-amz-date',
      'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    ),
  ],
};

test('accepts the AWS example GET Object signature', () => {
  const v = verifySigV4(getObject, opts);
  assert.equal(v.accessKeyId, ID);
  assert.equal(v.payloadHash, EMPTY_SHA256);
  assert.equal(v.presigned, false);
});

test('accepts the AWS example PUT Object signature (Date header, a path with $)', () => {
  const v = verifySigV4(
    {
      method: 'PUT',
      url: '/test%24file.text',
      headers: [
        HOST,
        ['Date', 'Fri, 24 May 2013 00:00:00 GMT'],
        ['x-amz-date', '20130524T000000Z'],
        ['x-amz-storage-class', 'REDUCED_REDUNDANCY'],
        [
          'x-amz-content-sha256',
          '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
        ],
        headerAuth(
          'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
          '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
        ),
      ],
    },
    opts,
  );
  assert.equal(v.payloadHash, '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072');
});

test('accepts the AWS example GET Bucket signatures (sub-resource and sorted query)', () => {
  const base = [
    HOST,
    ['x-amz-content-sha256', EMPTY_SHA256],
    ['x-amz-date', '20130524T000000Z'],
  ] as [string, string][];
  verifySigV4(
    {
      method: 'GET',
      url: '/?lifecycle',
      headers: [
        ...base,
        headerAuth(
          'host;x-amz-content-sha256;x-amz-date',
          'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543',
        ),
      ],
    },
    opts,
  );
  verifySigV4(
    {
      method: 'GET',
      url: '/?max-keys=2&prefix=J',
      headers: [
        ...base,
        headerAuth(
          'host;x-amz-content-sha256;x-amz-date',
          '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7',
        ),
      ],
    },
    opts,
  );
});

const presigned =
  '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request' +
  '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
  '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';

test('accepts the AWS example presigned URL within its lifetime, refuses it after', () => {
  const req = { method: 'GET', url: presigned, headers: [HOST] };
  assert.equal(verifySigV4(req, opts).presigned, true);
  assert.throws(() => verifySigV4(req, { ...opts, now: Date.UTC(2013, 4, 25, 0, 0, 1) }), {
    code: 'S3_REQUEST_EXPIRED',
  });
  assert.throws(() => verifySigV4(req, { ...opts, now: Date.UTC(2013, 4, 23, 23, 0, 0) }), {
    code: 'S3_REQUEST_EXPIRED',
  });
});

test('refuses a changed method, path, query, signed header or secret', () => {
  const h = getObject.headers;
  const cases: SignableRequest[] = [
    { ...getObject, method: 'HEAD' },
    { ...getObject, url: '/test.txT' },
    { ...getObject, url: '/test.txt?x=1' },
    { ...getObject, headers: h.map(([k, v]) => [k, k === 'Range' ? 'bytes=0-10' : v] as const) },
    {
      method: 'GET',
      url: presigned.replace('X-Amz-Expires=86400', 'X-Amz-Expires=86401'),
      headers: [HOST],
    },
  ];
  for (const req of cases)
    assert.throws(() => verifySigV4(req, opts), { code: 'S3_SIGNATURE_MISMATCH' });
  assert.throws(() => verifySigV4(getObject, { ...opts, secretOf: () => `${SECRET}x` }), {
    code: 'S3_SIGNATURE_MISMATCH',
  });
});

test('refuses unsigned, unknown-key, skewed and malformed requests with their own codes', () => {
  const without = (name: string) => getObject.headers.filter(([k]) => k !== name);
  assert.throws(() => verifySigV4({ ...getObject, headers: without('Authorization') }, opts), {
    code: 'S3_ACCESS_DENIED',
  });
  assert.throws(() => verifySigV4(getObject, { ...opts, secretOf: () => undefined }), {
    code: 'S3_ACCESS_KEY_UNKNOWN',
  });
  assert.throws(() => verifySigV4(getObject, { ...opts, now: NOW + 20 * 60 * 1000 }), {
    code: 'S3_TIME_SKEWED',
  });
  assert.throws(
    () =>
      verifySigV4(
        { ...getObject, headers: [...getObject.headers, ['x-amz-meta-evil', '1']] },
        opts,
      ),
    { code: 'S3_ACCESS_DENIED' },
  );
  assert.throws(
    () =>
      verifySigV4(
        {
          ...getObject,
          headers: [
            ...without('Authorization'),
            ['Authorization', 'AWS4-HMAC-SHA256 Credential=x'],
          ],
        },
        opts,
      ),
    { code: 'S3_AUTH_MALFORMED' },
  );
  assert.throws(
    () =>
      verifySigV4(
        { ...getObject, headers: [...without('Authorization'), ['Authorization', 'AWS AKID:sig']] },
        opts,
      ),
    { code: 'S3_ACCESS_DENIED' },
  );
});

test('uriEncode keeps only unreserved characters', () => {
  assert.equal(uriEncode('a b/c~d+é'), 'a%20b%2Fc~d%2B%C3%A9');
  assert.equal(uriEncode('a b/c', false), 'a%20b/c');
});

test('verifies the AWS example signed-chunk upload chunk by chunk, and refuses a changed chunk', async () => {
  const req: SignableRequest = {
    method: 'PUT',
    url: '/examplebucket/chunkObject.txt',
    headers: [
      ['Host', 's3.amazonaws.com'],
      ['x-amz-date', '20130524T000000Z'],
      ['x-amz-storage-class', 'REDUCED_REDUNDANCY'],
      ['x-amz-content-sha256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'],
      ['Content-Encoding', 'aws-chunked'],
      ['x-amz-decoded-content-length', '66560'],
      ['Content-Length', '66824'],
      headerAuth(
        'content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class',
        '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
      ),
    ],
  };
  const v = verifySigV4(req, opts);
  assert.ok(v.streaming);
  const body = (data: Buffer) =>
    Buffer.concat([
      Buffer.from(
        '10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n',
      ),
      data.subarray(0, 65536),
      Buffer.from(
        '\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n',
      ),
      data.subarray(65536),
      Buffer.from(
        '\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n',
      ),
    ]);
  async function* pieces(b: Buffer) {
    for (let i = 0; i < b.length; i += 1000) yield b.subarray(i, i + 1000);
  }
  const drain = async (b: Buffer) => {
    let n = 0;
    for await (const p of decodeAwsChunked(pieces(b), v.streaming).pieces) n += p.length;
    return n;
  };
  const data = Buffer.alloc(66560, 'a');
  assert.equal(await drain(body(data)), 66560);
  const changed = Buffer.from(data);
  changed[66000] = 0x62; // one byte of the second chunk (bytes 65536..66559)
  await assert.rejects(drain(body(changed)), { code: 'S3_SIGNATURE_MISMATCH' });
});
