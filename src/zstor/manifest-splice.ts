import { fail } from '../core/assert.ts';
import {
  type ChunkSource,
  compositeSha256,
  type ObjectManifest,
  SPLICED_MANIFEST_FORMAT,
  type SplicedChunkRecord,
  type SplicedManifest,
} from './object-manifest.ts';

/*
 * Splicing: the manifest of an object made of other objects' chunks, in order, without
 * reading or writing a byte of data (docs/zstor.md, "Splicing"). Each chunk keeps the key,
 * nonce, shard keys and shard headers of the write that sealed it: nothing is encrypted
 * again, so no (key, nonce) pair is ever used for a second plaintext. A format-2 source
 * is flattened (its own sources are taken over), so a manifest always names the writes
 * that sealed its chunks. The whole-object SHA-256 cannot be known without reading, so a
 * spliced manifest records each source's SHA-256 and, as its sha256, their composite.
 */

/** Sources per spliced manifest at most (S3 allows 10 000 parts). */
export const MAX_SPLICE_SOURCES = 100_000;

export interface SpliceHead {
  readonly name: string;
  readonly objectId: Buffer;
  readonly version: number;
  readonly createdAt: number;
}

/**
 * The format-2 manifest of `head` whose bytes are those of `parts`, in order.
 * @throws VdcError INPUT_INVALID when there is no part, too many, or one write twice
 */
export function spliceManifests(
  head: SpliceHead,
  parts: readonly ObjectManifest[],
): SplicedManifest {
  const sources: ChunkSource[] = [];
  const chunks: SplicedChunkRecord[] = [];
  for (const m of parts) {
    const offset = sources.length;
    if (m.format === SPLICED_MANIFEST_FORMAT) {
      sources.push(...m.sources.map((s) => ({ ...s })));
      for (const c of m.chunks)
        chunks.push({ ...c, source: c.source + offset, shards: c.shards.map((s) => ({ ...s })) });
      continue;
    }
    sources.push({
      objectId: m.objectId,
      version: m.version,
      versionSalt: m.versionSalt,
      size: m.size,
      sha256: m.sha256,
      data: m.data,
      parity: m.parity,
    });
    for (const [chunk, c] of m.chunks.entries())
      chunks.push({ ...c, source: offset, chunk, shards: c.shards.map((s) => ({ ...s })) });
  }
  if (sources.length === 0 || sources.length > MAX_SPLICE_SOURCES)
    fail(
      'INPUT_INVALID',
      `a spliced object needs 1..${MAX_SPLICE_SOURCES} source writes, got ${sources.length}`,
    );
  if (new Set(sources.map((s) => `${s.objectId}/${s.version}`)).size !== sources.length)
    fail('INPUT_INVALID', 'the same write is spliced in twice: every chunk has one owner');
  return {
    format: SPLICED_MANIFEST_FORMAT,
    name: head.name,
    objectId: head.objectId.toString('hex'),
    version: head.version,
    size: sources.reduce((n, s) => n + s.size, 0),
    sha256: compositeSha256(sources),
    createdAt: head.createdAt,
    chunkSize: parts.reduce((n, m) => Math.max(n, m.chunkSize), 1),
    sources,
    chunks,
  };
}
