import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { KeyIndex } from './key-index.ts';
import {
  checkFileHeader,
  DATA_HEADER_SIZE,
  FILE_HEADER_SIZE,
  FLAG_DELETED,
  fileHeader,
  type IndexRecord,
  indexRecordSize,
  readIndexRecord,
} from './record-format.ts';

/*
 * Rebuilds a namespace's in-memory index from its index files at start (and RELOAD).
 * Crash rules: a record whose CRC fails ends its file (a torn tail); in the last file the
 * tail is cut off; index records whose data is not (fully) in the data file are dropped, and
 * data written after the last indexed record is cut (it was never acknowledged: the server
 * writes data, then index, then replies).
 */

export const dataFileName = (id: number): string => `zdb-data-${String(id).padStart(5, '0')}`;
const READ_WINDOW = 16 * 1024 * 1024;

export const indexFileName = (id: number): string => `zdb-index-${String(id).padStart(5, '0')}`;

export interface LoadStats {
  entries: number;
  datasize: number;
}

export interface LoadResult extends LoadStats {
  lastId: number;
  mode: number | undefined;
  discardedBytes: number;
  warnings: string[];
}

/** Applies one index record to the index and the live statistics. */
export function applyRecord(
  index: KeyIndex,
  stats: LoadStats,
  r: IndexRecord,
  idxId: number,
  idxOffset: number,
  known?: number,
): number {
  const prev = known ?? index.find(r.key);
  if (prev >= 0) {
    const p = index.entry(prev);
    if (!(p.flags & FLAG_DELETED)) {
      stats.entries--;
      stats.datasize -= p.length;
    }
  }
  const id = index.set(
    r.key,
    {
      flags: r.flags,
      dataId: r.dataId,
      dataOffset: r.dataOffset,
      length: r.length,
      crc: r.crc,
      timestamp: r.timestamp,
      idxId,
      idxOffset,
    },
    prev,
  );
  if (!(r.flags & FLAG_DELETED)) {
    stats.entries++;
    stats.datasize += r.length;
  }
  return id;
}

function fileIds(dir: string, prefix: string): number[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && /^\d{5}$/.test(f.slice(prefix.length)))
    .map((f) => Number(f.slice(prefix.length)))
    .sort((a, b) => a - b);
}

function dataRecordEnd(r: IndexRecord): number {
  return r.dataOffset + DATA_HEADER_SIZE + r.key.length + (r.flags & FLAG_DELETED ? 0 : r.length);
}

export function loadNamespace(
  indexDir: string,
  dataDir: string,
  index: KeyIndex,
  readWindow = READ_WINDOW,
): LoadResult {
  const ids = fileIds(indexDir, 'zdb-index-');
  const result: LoadResult = {
    entries: 0,
    datasize: 0,
    lastId: -1,
    mode: undefined,
    discardedBytes: 0,
    warnings: [],
  };
  const lastId = ids.length > 0 ? ids[ids.length - 1]! : -1;
  result.lastId = lastId;
  for (const id of ids) {
    const path = join(indexDir, indexFileName(id));
    const size = statSync(path).size;
    const header = readAt(path, FILE_HEADER_SIZE, 0);
    const mode = checkFileHeader(header, 'index', id);
    const isLast = id === lastId;
    if (mode === undefined) {
      if (isLast) {
        // a crash while the file was being created: start it afresh
        result.discardedBytes += size;
        writeFileSync(
          path,
          fileHeader('index', id, result.mode ?? 0, Math.floor(Date.now() / 1000)),
        );
        continue;
      }
      result.warnings.push(`${path}: bad header, file skipped`);
      continue;
    }
    result.mode ??= mode;
    // In the last file, records whose data did not reach the data file whole are dropped.
    // Data offsets grow with the index within a file, so the first such record ends the file.
    const dataPath = join(dataDir, dataFileName(id));
    const dataSize = isLast ? (existsSync(dataPath) ? statSync(dataPath).size : 0) : Infinity;
    let dataEnd = FILE_HEADER_SIZE;
    let at = FILE_HEADER_SIZE;
    const fd = openSync(path, 'r');
    try {
      // read in windows, so an index file of any size is replayed in bounded memory
      const window = Buffer.allocUnsafe(Math.max(readWindow, indexRecordSize(255)));
      let base = at;
      let filled = 0;
      for (;;) {
        if (at - base + indexRecordSize(255) > filled && base + filled < size) {
          base = at;
          filled = readSync(fd, window, 0, window.length, base);
        }
        const buf = window.subarray(0, filled);
        const r = at < size ? readIndexRecord(buf, at - base) : undefined;
        if (!r) break;
        const end = r.dataId === id ? dataRecordEnd(r) : 0;
        if (end > dataSize) break;
        dataEnd = Math.max(dataEnd, end);
        applyRecord(index, result, r, id, at);
        at += indexRecordSize(r.key.length);
      }
    } finally {
      closeSync(fd);
    }
    if (at < size) {
      if (isLast) {
        result.discardedBytes += size - at;
        truncateSync(path, at);
      } else result.warnings.push(`${path}: damaged record at ${at}, ${size - at} bytes ignored`);
    }
    if (isLast && dataSize > dataEnd && existsSync(dataPath)) {
      result.discardedBytes += dataSize - dataEnd;
      truncateSync(dataPath, dataEnd);
    }
  }
  return result;
}

/** Reads `length` bytes at `position` of a file that is not open (an older data or index file). */
/** Reads up to `length` bytes at `position` of `path`, into `into` when given. */
export function readAt(path: string, length: number, position: number, into?: Buffer): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = into ?? Buffer.allocUnsafe(length);
    const n = readSync(fd, buf, 0, length, position);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}
