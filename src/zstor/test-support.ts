import { randomBytes } from 'node:crypto';
import { FakeShardBackend } from './fake-shard-backend.ts';
import type { WriteRequest, WriteTarget } from './object-writer.ts';
import { ReedSolomon } from './reed-solomon.ts';
import { shardNameKey } from './zstor-keys.ts';

/** Fixtures shared by zstor's unit tests (not part of the public surface). */

export const TEST_KEYS = { data: Buffer.alloc(32, 1), meta: Buffer.alloc(32, 2) };

export function fakeBackends(n: number, farms?: number): FakeShardBackend[] {
  return Array.from(
    { length: n },
    (_, i) =>
      new FakeShardBackend(
        `b${i}`,
        `node${i}`,
        farms === undefined ? undefined : `farm${i % farms}`,
      ),
  );
}

export function testTarget(
  backends: FakeShardBackend[],
  opts: Partial<Omit<WriteTarget, 'rs'>> & { data?: number; parity?: number } = {},
): WriteTarget {
  const rs = new ReedSolomon(opts.data ?? 4, opts.parity ?? 2);
  return {
    backends,
    rs,
    chunkSize: opts.chunkSize ?? 64 * 1024,
    compressionLevel: opts.compressionLevel ?? 3,
    distinctFarms: opts.distinctFarms ?? false,
    minShards: opts.minShards ?? rs.total,
    dataKey: TEST_KEYS.data,
    nameKey: shardNameKey(TEST_KEYS.meta),
  };
}

export function testRequest(name = 'photos/cat.jpg', version = 1): WriteRequest {
  return {
    name,
    objectId: randomBytes(16),
    version,
    versionSalt: randomBytes(16),
    createdAt: 1_700_000_000_000,
  };
}

export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of stream) parts.push(p);
  return Buffer.concat(parts);
}

/** Deterministic, partly compressible bytes. */
export function sampleBytes(size: number): Buffer {
  const out = Buffer.alloc(size);
  const noise = randomBytes(Math.min(size, 4096));
  for (let i = 0; i < size; i++) out[i] = i % 3 === 0 ? noise[i % noise.length]! : i & 0xff;
  return out;
}
