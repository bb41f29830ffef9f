import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { fail } from '../core/assert.ts';
import { VdcError } from '../core/errors.ts';
import {
  BLOCK,
  isZeroBlock,
  parseHeader,
  parsePax,
  paxNumber,
  type TarHeader,
  type TarHeaderType,
  tarString,
} from './image-tar-header.ts';

/*
 * A streaming tar reader: entries one at a time, each body streamed, nothing of the
 * archive held in memory but one header or one extended header (bounded). Input may be
 * gzip-compressed (found by its magic 1f 8b). Every size an archive declares is bounded
 * before it is believed, so a hostile tarball costs at most what the caller allowed.
 */

export interface TarLimits {
  /** header blocks of any kind, extended headers included */
  maxEntries: number;
  /** bytes of an entry's path or link target */
  maxPathBytes: number;
  /** bytes of one pax extended header or GNU long name */
  maxPaxBytes: number;
  /** bytes of all entries' data together (the unpacked size) */
  maxTotalBytes: number;
}

export const DEFAULT_TAR_LIMITS: TarLimits = {
  maxEntries: 100_000,
  maxPathBytes: 4096,
  maxPaxBytes: 64 * 1024,
  maxTotalBytes: 4 * 1024 ** 3,
};

/** What an entry is: a header type, less the extended headers that only describe the next one. */
export type TarEntryType = Exclude<
  TarHeaderType,
  'pax-local' | 'pax-global' | 'gnu-long-name' | 'gnu-long-link'
>;

/** An entry's metadata, extended headers applied; `path`/`linkTarget` as the archive has them. */
export interface TarEntry {
  path: string;
  type: TarEntryType;
  /** the header's 12 mode bits, setuid/setgid/sticky included */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  /** symlink target or hardlink target; '' for other types */
  linkTarget: string;
}

export interface TarItem {
  entry: TarEntry;
  /** the entry's data, readable once; skipped if left unread */
  body: AsyncIterable<Buffer>;
}

/** Pulls exact byte counts out of an async iterable of chunks. */
class ByteReader {
  readonly #it: AsyncIterator<Uint8Array>;
  #buf: Buffer = Buffer.alloc(0);

  constructor(input: AsyncIterable<Uint8Array>) {
    this.#it = input[Symbol.asyncIterator]();
  }

  /** Up to `n` bytes in pieces; throws if the stream ends first. */
  async *take(n: number, progress: (got: number) => void = () => {}): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.#buf.length === 0) {
        const next = await this.#it.next();
        if (next.done) fail('IMAGE_TAR_MALFORMED', 'the tarball ends in the middle of an entry');
        this.#buf = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
        continue;
      }
      const piece = this.#buf.subarray(0, Math.min(left, this.#buf.length));
      this.#buf = this.#buf.subarray(piece.length);
      left -= piece.length;
      progress(piece.length);
      yield piece;
    }
  }

  /** Exactly `n` bytes, or undefined if the stream ends cleanly before the first byte. */
  async exact(n: number): Promise<Buffer | undefined> {
    if (this.#buf.length === 0) {
      const next = await this.#it.next();
      if (next.done) return undefined;
      this.#buf = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    }
    const pieces: Buffer[] = [];
    for await (const piece of this.take(n)) pieces.push(piece);
    return pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n));
  }

  async close(): Promise<void> {
    await this.#it.return?.();
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/**
 * The input unchanged, or gunzipped if it starts with the gzip magic.
 * @throws VdcError IMAGE_TAR_MALFORMED when the gzip stream is corrupt or truncated
 */
export async function* maybeGunzip(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const it = input[Symbol.asyncIterator]();
  try {
    let head = Buffer.alloc(0);
    let ended = false;
    while (head.length < 2 && !ended) {
      const next = await it.next();
      if (next.done) ended = true;
      else head = Buffer.concat([head, next.value]);
    }
    async function* rest(): AsyncGenerator<Uint8Array> {
      if (head.length > 0) yield head;
      if (ended) return;
      for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
    }
    if (head[0] !== 0x1f || head[1] !== 0x8b) {
      yield* rest();
      return;
    }
    yield* gunzipped(rest());
  } finally {
    // Closes the source (a file, a socket) also when the consumer stopped early.
    await it.return?.();
  }
}

async function* gunzipped(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const gunzip = createGunzip();
  const piping = pipeline(Readable.from(source), gunzip);
  // The consumer may stop early (an entry refused); then the pipeline ends with a
  // premature close, which is not a failure of the archive.
  piping.catch(() => {});
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (cause) {
    if (cause instanceof VdcError) throw cause;
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('Z_'))
      fail('IMAGE_TAR_MALFORMED', `the gzip stream is corrupt: ${(cause as Error).message}`, cause);
    throw cause;
  } finally {
    gunzip.destroy();
  }
}

interface Pending {
  pax?: Map<string, string>;
  longName?: string;
  longLink?: string;
}

function overLimit(what: string, limit: number, unit: string): never {
  return fail(
    'IMAGE_TAR_LIMIT_EXCEEDED',
    `${what} exceeds the limit of ${limit} ${unit}: make the image smaller or raise the node's limit`,
  );
}

function entryOf(h: TarHeader, p: Pending, global: Map<string, string>, index: number): TarEntry {
  const num = (key: 'size' | 'uid' | 'gid' | 'mtime', fallback: number) => {
    const v = p.pax?.get(key) ?? (key === 'size' ? undefined : global.get(key));
    return v === undefined ? fallback : paxNumber(v, key, index);
  };
  return {
    path: p.pax?.get('path') ?? p.longName ?? h.name,
    type: h.type as TarEntryType,
    mode: h.mode & 0o7777,
    uid: num('uid', h.uid),
    gid: num('gid', h.gid),
    size: num('size', h.size),
    mtime: num('mtime', h.mtime),
    linkTarget:
      h.type === 'symlink' || h.type === 'hardlink'
        ? (p.pax?.get('linkpath') ?? p.longLink ?? h.linkName)
        : '',
  };
}

/**
 * Reads a (possibly gzipped) tar stream entry by entry. A body left unread is skipped
 * when the next entry is asked for.
 * @throws VdcError IMAGE_TAR_MALFORMED, IMAGE_TAR_LIMIT_EXCEEDED, IMAGE_ENTRY_TYPE_UNSUPPORTED
 */
export async function* readTar(
  input: AsyncIterable<Uint8Array>,
  limits: Partial<TarLimits> = {},
): AsyncGenerator<TarItem> {
  const max = { ...DEFAULT_TAR_LIMITS, ...limits };
  const r = new ByteReader(maybeGunzip(input));
  const global = new Map<string, string>();
  let pending: Pending = {};
  let headers = 0;
  let total = 0;
  try {
    for (;;) {
      const block = await r.exact(BLOCK);
      // A zero block ends the archive; so does a clean end of stream at a header boundary
      // (some writers omit the trailer). What follows the end is not read.
      if (block === undefined || isZeroBlock(block)) break;
      headers += 1;
      if (headers > max.maxEntries) overLimit('the number of tar headers', max.maxEntries, '');
      const h = parseHeader(block, headers);
      if (h.type.startsWith('pax-') || h.type.startsWith('gnu-')) {
        if (h.size > max.maxPaxBytes)
          overLimit(`extended header ${headers}`, max.maxPaxBytes, 'bytes');
        const data = h.size === 0 ? Buffer.alloc(0) : await r.exact(h.size);
        if (data === undefined) fail('IMAGE_TAR_MALFORMED', 'the tarball ends after a header');
        await r.skip(padding(h.size));
        if (h.type === 'pax-local') pending.pax = parsePax(data, headers);
        else if (h.type === 'gnu-long-name') pending.longName = tarString(data, 'a GNU long name');
        else if (h.type === 'gnu-long-link') pending.longLink = tarString(data, 'a GNU long link');
        else {
          const records = parsePax(data, headers);
          for (const key of ['path', 'linkpath', 'size'])
            if (records.has(key))
              fail(
                'IMAGE_TAR_MALFORMED',
                `global pax header ${headers} sets ${key} for all entries`,
              );
          for (const [key, value] of records) global.set(key, value);
        }
        continue;
      }
      const entry = entryOf(h, pending, global, headers);
      pending = {};
      for (const [what, text] of [
        ['path', entry.path],
        ['link target', entry.linkTarget],
      ] as const) {
        const bytes = Buffer.byteLength(text);
        if (bytes > max.maxPathBytes)
          overLimit(`the ${what} of entry ${headers} (${bytes} bytes)`, max.maxPathBytes, 'bytes');
      }
      if (entry.type !== 'file' && entry.size !== 0)
        fail(
          'IMAGE_TAR_MALFORMED',
          `entry ${JSON.stringify(entry.path)} is a ${entry.type} with ${entry.size} bytes of data`,
        );
      total += entry.size;
      if (total > max.maxTotalBytes) overLimit('the unpacked size', max.maxTotalBytes, 'bytes');
      let left = entry.size;
      const body = r.take(entry.size, (got) => {
        left -= got;
      });
      yield { entry, body };
      await body.return(undefined);
      await r.skip(left + padding(entry.size));
    }
    if (pending.pax || pending.longName !== undefined || pending.longLink !== undefined)
      fail('IMAGE_TAR_MALFORMED', 'the tarball ends with an extended header but no entry');
  } finally {
    await r.close();
  }
}
