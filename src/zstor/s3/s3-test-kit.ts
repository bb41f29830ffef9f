import { S3Client } from '@aws-sdk/client-s3';
import type { Clock } from '../../core/clock.ts';
import { FakeShardBackend } from '../fake-shard-backend.ts';
import type { ShardBackend } from '../shard-backend.ts';
import { type ZstorOptions, ZstorStore } from '../zstor-store.ts';
import { type S3Credentials, s3CredentialsFromKey } from './s3-credentials.ts';
import type { S3Limits } from './s3-request.ts';
import { type S3Server, startS3Server } from './s3-server.ts';
import {
  canonicalRequest,
  formatAmzDate,
  headerMap,
  parseQuery,
  sign,
  signingKey,
  splitUrl,
  stringToSign,
} from './sigv4.ts';

/*
 * Test support (tests only): an S3 endpoint on 127.0.0.1 over a ZstorStore, and the real
 * AWS SDK client pointed at it (path-style). Backends default to in-memory ones; e2e tests
 * pass real zdb-backed ones. Stopped in t.after.
 */

export interface TestContextLike {
  after(fn: () => unknown): void;
}

export interface TestS3 {
  readonly server: S3Server;
  readonly store: ZstorStore;
  readonly backends: readonly ShardBackend[];
  readonly credentials: S3Credentials;
  client(credentials?: S3Credentials): S3Client;
}

export const TEST_S3_KEY = Buffer.alloc(32, 7);

export async function startTestS3(
  t: TestContextLike,
  opts: {
    backends?: readonly ShardBackend[];
    store?: Partial<ZstorOptions>;
    limits?: Partial<S3Limits>;
    clock?: Clock;
  } = {},
): Promise<TestS3> {
  const backends =
    opts.backends ?? Array.from({ length: 6 }, (_, i) => new FakeShardBackend(`b${i}`, `node${i}`));
  const store = new ZstorStore(
    backends,
    { data: Buffer.alloc(32, 1), meta: Buffer.alloc(32, 2) },
    // a shorter writer-lock settle than production's: loopback answers in well under 50 ms
    { data: 4, parity: 2, chunkSize: 1024 * 1024, lock: { settleMs: 100 }, ...opts.store },
  );
  const credentials = s3CredentialsFromKey(TEST_S3_KEY);
  const server = await startS3Server({
    store,
    credentials,
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const clients: S3Client[] = [];
  t.after(async () => {
    for (const c of clients) c.destroy();
    await server.close();
  });
  return {
    server,
    store,
    backends,
    credentials,
    client(creds = credentials) {
      const c = new S3Client({
        endpoint: server.url,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: creds,
        maxAttempts: 1,
      });
      clients.push(c);
      return c;
    },
  };
}

/** Every name in the store (what "nothing written" is checked against). */
export async function storeNames(store: ZstorStore): Promise<string[]> {
  return (await store.list()).map((o) => `${o.name}@${o.version}`);
}

/**
 * Headers that sign a raw request to `s3` (our SigV4 code, checked against the AWS
 * examples in sigv4.test.ts), for tests that send what no SDK would.
 */
export function signHeaders(
  s3: TestS3,
  method: string,
  url: string,
  payloadHash: string,
  extra: Record<string, string> = {},
  creds: S3Credentials = s3.credentials,
): Record<string, string> {
  const amzDate = formatAmzDate(Date.now());
  const headers: Record<string, string> = {
    host: new URL(s3.server.url).host,
    'x-amz-content-sha256': payloadHash,
    'x-amz-date': amzDate,
    ...extra,
  };
  const names = Object.keys(headers).sort();
  const scope = `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`;
  const { path, query } = splitUrl(url);
  const canonical = canonicalRequest(
    method,
    path,
    parseQuery(query),
    headerMap(Object.entries(headers)),
    names,
    payloadHash,
  );
  const key = signingKey(creds.secretAccessKey, amzDate.slice(0, 8), 'us-east-1', 's3');
  const { host: _host, ...rest } = headers;
  return {
    ...rest,
    authorization: `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${sign(key, stringToSign(amzDate, scope, canonical))}`,
  };
}
