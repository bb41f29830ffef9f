import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AppendFile } from './append-file.ts';
import { KeyIndex } from './key-index.ts';
import {
  DATA_HEADER_SIZE,
  FILE_HEADER_SIZE,
  FLAG_DELETED,
  fileHeader,
  type IndexRecord,
  indexRecordSize,
  readDataHeader,
  readIndexRecord,
  type ValueBytes,
  valueCrc,
  valueLength,
  writeDataHeader,
  writeIndexRecord,
} from './record-format.ts';
import { applyRecord, dataFileName, indexFileName, loadNamespace, readAt } from './store-loader.ts';

/*
 * The storage of one namespace: the current data and index files (older ones are read
 * only), the in-memory index and the live statistics. Every change appends a data record
 * then an index record; nothing is rewritten in place.
 */

export type NamespaceMode = 'user' | 'seq';
export const MODE_BYTE: Record<NamespaceMode, number> = { user: 0, seq: 1 };

export interface StoreEvents {
  jump(kind: 'jump-index' | 'jump-data', closed: string, opened: string): void;
  missingData(path: string): boolean;
}

/** A position in the index log: file id and offset. Cursors, history keys and KEYCUR use it. */
export interface LogPosition {
  id: number;
  offset: number;
}

export const POSITION_SIZE = 6;

export function encodePosition(p: LogPosition): Buffer {
  const b = Buffer.alloc(POSITION_SIZE);
  b.writeUInt16LE(p.id, 0);
  b.writeUInt32LE(p.offset, 2);
  return b;
}

export function decodePosition(b: Buffer): LogPosition | undefined {
  if (b.length !== POSITION_SIZE) return undefined;
  return { id: b.readUInt16LE(0), offset: b.readUInt32LE(2) };
}

export interface ScanItem {
  key: Buffer;
  length: number;
  timestamp: number;
  position: LogPosition;
}

export class NamespaceStore {
  readonly indexDir: string;
  readonly dataDir: string;
  index = new KeyIndex();
  entries = 0;
  datasize = 0;
  currentId = 0;
  mode: NamespaceMode = 'user';
  /** Bumped when a failed write is rolled back: replies of writes made under an older epoch become errors. */
  epoch = 0;
  dirtyIndexIds = new Set<number>();
  private data!: AppendFile;
  private idx!: AppendFile;
  private readonly events: StoreEvents;

  constructor(indexDir: string, dataDir: string, events: StoreEvents, mode?: NamespaceMode) {
    this.indexDir = indexDir;
    this.dataDir = dataDir;
    this.events = events;
    mkdirSync(indexDir, { recursive: true, mode: 0o700 });
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.load(mode);
  }

  private load(mode?: NamespaceMode): { discardedBytes: number; warnings: string[] } {
    this.index = new KeyIndex();
    const r = loadNamespace(this.indexDir, this.dataDir, this.index);
    this.entries = r.entries;
    this.datasize = r.datasize;
    if (r.mode !== undefined) this.mode = r.mode === 1 ? 'seq' : 'user';
    else if (mode) this.mode = mode;
    this.currentId = Math.max(0, r.lastId);
    this.openCurrent(r.lastId < 0);
    return r;
  }

  private openCurrent(fresh: boolean): void {
    const id = this.currentId;
    const now = Math.floor(Date.now() / 1000);
    const idxPath = join(this.indexDir, indexFileName(id));
    const dataPath = join(this.dataDir, dataFileName(id));
    const idxNew = fresh || !existsSync(idxPath);
    const dataNew = fresh || !existsSync(dataPath) || statSync(dataPath).size < FILE_HEADER_SIZE;
    this.idx = new AppendFile(idxPath, idxNew);
    this.data = new AppendFile(dataPath, dataNew);
    if (idxNew) this.idx.append(fileHeader('index', id, MODE_BYTE[this.mode], now));
    if (dataNew) this.data.append(fileHeader('data', id, MODE_BYTE[this.mode], now));
    this.flush();
  }

  get dataEnd(): number {
    return this.data.end;
  }

  get indexSize(): number {
    let total = 0;
    for (let id = 0; id <= this.currentId; id++) {
      const p = join(this.indexDir, indexFileName(id));
      if (existsSync(p)) total += statSync(p).size;
    }
    return total;
  }

  /** Fresh: nothing was ever written (NSSET mode is allowed only then). */
  get fresh(): boolean {
    return this.index.size === 0 && this.currentId === 0;
  }

  get dirty(): boolean {
    return this.data.dirty || this.idx.dirty;
  }

  /** The next sequential id (seq mode): ids are never reused, deleted ones included. */
  get nextSeq(): number {
    return this.index.size;
  }

  /** Moves to new data and index files (on --datasize, or NSJUMP). */
  jump(): void {
    // file ids are 16 bits on disk, as in 0-db: 65536 files of --datasize per namespace
    if (this.currentId >= 0xffff) throw new Error(`namespace ${this.indexDir} has no file id left`);
    this.flush();
    const closedIdx = this.idx.path;
    const closedData = this.data.path;
    this.idx.close();
    this.data.close();
    this.currentId++;
    this.openCurrent(true);
    this.events.jump('jump-index', closedIdx, this.idx.path);
    this.events.jump('jump-data', closedData, this.data.path);
  }

  /**
   * Appends a new version of `key` (or its deletion). `crc` and `known` (the key's entry id,
   * -1 when absent) may be passed when the caller has them. Returns the index entry id.
   */
  append(
    key: Buffer,
    value: ValueBytes,
    timestamp: number,
    deleted: boolean,
    crc = deleted ? 0 : valueCrc(value),
    known = this.index.find(key),
  ): number {
    const flags = deleted ? FLAG_DELETED : 0;
    const length = deleted ? 0 : valueLength(value);
    const header = Buffer.allocUnsafe(DATA_HEADER_SIZE + key.length);
    writeDataHeader(header, 0, { key, valueLength: length, flags, crc, timestamp });
    const dataOffset = this.data.append(header);
    // The value's buffers are queued as they are (one writev at the group commit): the
    // caller must not write into them again, which holds for received bytes.
    if (length > 0) {
      if (Buffer.isBuffer(value)) this.data.append(value);
      else for (const p of value) if (p.length > 0) this.data.append(p);
    }
    const prev = known >= 0 ? this.index.entry(known) : undefined;
    const rec: IndexRecord = {
      key,
      flags,
      dataId: this.currentId,
      dataOffset,
      length,
      crc,
      timestamp,
      prevId: prev ? prev.idxId : 0,
      prevOffset: prev ? prev.idxOffset : 0,
    };
    const ib = Buffer.allocUnsafe(indexRecordSize(key.length));
    writeIndexRecord(ib, 0, rec);
    const idxOffset = this.idx.append(ib);
    this.dirtyIndexIds.add(this.currentId);
    return applyRecord(this.index, this, rec, this.currentId, idxOffset, known);
  }

  /**
   * Writes what is queued: data first, then index, so an index record never points at data
   * that is not on disk. On failure both files are cut back, the index is rebuilt from disk,
   * the epoch moves on and the error is thrown.
   */
  flush(): void {
    if (!this.dirty) return;
    const dataSize = this.data.flushed;
    const idxSize = this.idx.flushed;
    try {
      this.data.flush();
      this.idx.flush();
    } catch (err) {
      this.epoch++;
      try {
        this.data.truncate(dataSize);
        this.idx.truncate(idxSize);
      } catch {
        // cutting back failed too: the reload below discards whatever tail is left
      }
      this.idx.close();
      this.data.close();
      this.load();
      throw err;
    }
  }

  sync(): void {
    this.data.sync();
    this.idx.sync();
  }

  /** Reads `length` bytes at `position` of data file `id` into a buffer `room` bytes longer. */
  private readDataFile(id: number, length: number, position: number, room = 0): Buffer {
    const buf = Buffer.allocUnsafe(length + room);
    if (id === this.currentId) {
      const n = this.data.read(buf, length, position);
      return buf.subarray(0, n);
    }
    const path = join(this.dataDir, dataFileName(id));
    if (!existsSync(path) && !this.events.missingData(path)) {
      throw new Error(`data file ${path} is missing`);
    }
    return readAt(path, length, position, buf);
  }

  /**
   * The record holding `key`'s value, read and checked: header CRC, key, length and value
   * CRC. Undefined when any check fails, so a damaged record is never served. The returned
   * buffer has `room` spare bytes after the record (in its underlying memory).
   */
  private readRecord(
    key: Buffer,
    dataId: number,
    dataOffset: number,
    length: number,
    room: number,
  ): { record: Buffer; deleted: boolean } | undefined {
    const size = DATA_HEADER_SIZE + key.length + length;
    const b = this.readDataFile(dataId, size, dataOffset, room);
    const h = readDataHeader(b, 0);
    if (!h || h.keyLen !== key.length || h.valueLen !== length || b.length < size) return undefined;
    if (!b.subarray(DATA_HEADER_SIZE, DATA_HEADER_SIZE + key.length).equals(key)) return undefined;
    if (h.flags & FLAG_DELETED) return { record: b, deleted: true };
    if (valueCrc(b.subarray(DATA_HEADER_SIZE + key.length, size)) !== h.valueCrc) return undefined;
    return { record: b, deleted: false };
  }

  /**
   * The value of a record, checked (see readRecord): undefined when a check fails, so a
   * damaged record is never served.
   */
  readValue(key: Buffer, dataId: number, dataOffset: number, length: number): Buffer | undefined {
    const r = this.readRecord(key, dataId, dataOffset, length, 0);
    if (!r) return undefined;
    if (r.deleted) return Buffer.alloc(0);
    return r.record.subarray(DATA_HEADER_SIZE + key.length);
  }

  /**
   * The value of a record framed as a RESP bulk reply (`$LEN\r\n`, value, `\r\n`), made in
   * the buffer it was read into: the framing overwrites the record's already-checked header
   * and key in front of the value (always longer than `$8388608\r\n`) and two spare bytes
   * after it, so a GET's value is read once and never copied. Undefined as readValue.
   */
  readValueReply(
    key: Buffer,
    dataId: number,
    dataOffset: number,
    length: number,
  ): Buffer | undefined {
    const r = this.readRecord(key, dataId, dataOffset, length, 2);
    if (!r) return undefined;
    const valueAt = DATA_HEADER_SIZE + key.length;
    const value = r.deleted ? 0 : length;
    const prefix = `$${value}\r\n`;
    const b = Buffer.from(r.record.buffer, r.record.byteOffset, valueAt + value + 2);
    const start = valueAt - prefix.length;
    b.write(prefix, start, 'latin1');
    b[valueAt + value] = 13;
    b[valueAt + value + 1] = 10;
    return b.subarray(start);
  }

  readIndexAt(p: LogPosition): IndexRecord | undefined {
    if (p.id > this.currentId || p.offset < FILE_HEADER_SIZE) return undefined;
    if (p.id === this.currentId) {
      if (p.offset >= this.idx.end) return undefined;
      const buf = Buffer.allocUnsafe(indexRecordSize(255));
      const n = this.idx.read(buf, buf.length, p.offset);
      return readIndexRecord(buf.subarray(0, n), 0);
    }
    const path = join(this.indexDir, indexFileName(p.id));
    if (!existsSync(path)) return undefined;
    return readIndexRecord(readAt(path, indexRecordSize(255), p.offset), 0);
  }

  private indexFileEnd(id: number): number {
    if (id === this.currentId) return this.idx.end;
    const path = join(this.indexDir, indexFileName(id));
    return existsSync(path) ? statSync(path).size : 0;
  }

  /** Position of the record after `p`, or undefined at the end of the log. */
  nextPosition(p: LogPosition, rec: IndexRecord): LogPosition | undefined {
    let id = p.id;
    let offset = p.offset + indexRecordSize(rec.key.length);
    while (offset >= this.indexFileEnd(id)) {
      if (id >= this.currentId) return undefined;
      id++;
      offset = FILE_HEADER_SIZE;
    }
    return { id, offset };
  }

  /** Position of the record before `p`, read through the key-length trailer. */
  previousPosition(p: LogPosition): LogPosition | undefined {
    let id = p.id;
    let end = p.offset;
    while (end <= FILE_HEADER_SIZE) {
      if (id === 0) return undefined;
      id--;
      end = this.indexFileEnd(id);
    }
    const trailer =
      id === this.currentId
        ? (() => {
            const b = Buffer.alloc(1);
            this.idx.read(b, 1, end - 1);
            return b;
          })()
        : readAt(join(this.indexDir, indexFileName(id)), 1, end - 1);
    if (trailer.length !== 1) return undefined;
    return { id, offset: end - indexRecordSize(trailer[0]!) };
  }

  firstPosition(): LogPosition | undefined {
    for (let id = 0; id <= this.currentId; id++)
      if (this.indexFileEnd(id) > FILE_HEADER_SIZE) return { id, offset: FILE_HEADER_SIZE };
    return undefined;
  }

  lastPosition(): LogPosition | undefined {
    return this.previousPosition({ id: this.currentId, offset: this.idx.end });
  }

  /** True when the record at `p` is the live (latest, not deleted) version of its key. */
  isLive(rec: IndexRecord, p: LogPosition): boolean {
    const id = this.index.find(rec.key);
    if (id < 0) return false;
    const e = this.index.entry(id);
    return !(e.flags & FLAG_DELETED) && e.idxId === p.id && e.idxOffset === p.offset;
  }

  /** Every live record from `start` on (inclusive), walking forward or backward, at most `limit`. */
  scan(start: LogPosition | undefined, forward: boolean, limit: number): ScanItem[] {
    const out: ScanItem[] = [];
    let p = start;
    while (p && out.length < limit) {
      const rec = this.readIndexAt(p);
      if (!rec) break;
      if (this.isLive(rec, p))
        out.push({ key: rec.key, length: rec.length, timestamp: rec.timestamp, position: p });
      p = forward ? this.nextPosition(p, rec) : this.previousPosition(p);
    }
    return out;
  }

  /** Removes every file and starts empty (FLUSH). */
  reset(): void {
    this.close();
    rmSync(this.indexDir, { recursive: true, force: true });
    rmSync(this.dataDir, { recursive: true, force: true });
    mkdirSync(this.indexDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    this.load(this.mode);
  }

  reload(): { discardedBytes: number; warnings: string[] } {
    this.flush();
    this.close();
    return this.load(this.mode);
  }

  /** Switches the mode of a fresh namespace (NSSET mode). */
  setMode(mode: NamespaceMode): void {
    this.mode = mode;
    this.reset();
  }

  close(): void {
    try {
      this.flush();
    } finally {
      this.idx.close();
      this.data.close();
    }
  }

  destroy(): void {
    this.close();
    rmSync(this.indexDir, { recursive: true, force: true });
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
