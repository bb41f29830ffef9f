import { crc32 } from 'node:zlib';

/*
 * The on-disk formats of a namespace (docs/zdb.md, "On-disk format"). Not byte-compatible
 * with 0-db; the same ideas: append-only data files holding key + value, index files holding
 * a small entry per write, each file starting with a header, every record carrying a CRC32
 * and a timestamp, and each index entry pointing at the previous version of its key.
 * All integers are little-endian.
 */

export const DATA_MAGIC = 0x5844425a; // 'ZBDX'
export const INDEX_MAGIC = 0x4944425a; // 'ZBDI'
export const FORMAT_VERSION = 1;
export const FILE_HEADER_SIZE = 16;

/** Data record: [keyLen u8][flags u8][valueLen u32][valueCrc u32][timestamp u32][headerCrc u32][key][value]. */
export const DATA_HEADER_SIZE = 18;
/** Index record: 26 fixed bytes, the key, a CRC32 of all before it, and the key length again (for walking backward). */
export const INDEX_FIXED_SIZE = 26;
export const INDEX_TRAILER_SIZE = 5;

export const FLAG_DELETED = 1;

export const MAX_KEY_LENGTH = 255;
export const MAX_VALUE_LENGTH = 8 * 1024 * 1024;

export type FileKind = 'data' | 'index';

export function fileHeader(kind: FileKind, fileId: number, mode: number, now: number): Buffer {
  const b = Buffer.alloc(FILE_HEADER_SIZE);
  b.writeUInt32LE(kind === 'data' ? DATA_MAGIC : INDEX_MAGIC, 0);
  b.writeUInt16LE(FORMAT_VERSION, 4);
  b.writeUInt16LE(fileId, 6);
  b.writeUInt32LE(now >>> 0, 8);
  b.writeUInt8(mode, 12);
  return b;
}

/** Checks a file header; returns the mode byte it records, or undefined when it is not ours. */
export function checkFileHeader(b: Buffer, kind: FileKind, fileId: number): number | undefined {
  if (b.length < FILE_HEADER_SIZE) return undefined;
  if (b.readUInt32LE(0) !== (kind === 'data' ? DATA_MAGIC : INDEX_MAGIC)) return undefined;
  if (b.readUInt16LE(4) !== FORMAT_VERSION || b.readUInt16LE(6) !== fileId) return undefined;
  return b.readUInt8(12);
}

export interface DataRecordInput {
  key: Buffer;
  valueLength: number;
  flags: number;
  crc: number;
  timestamp: number;
}

export function dataRecordSize(keyLen: number, valueLen: number): number {
  return DATA_HEADER_SIZE + keyLen + valueLen;
}

/** Writes the data record's header and key into `out` at `at`; the value follows it. */
export function writeDataHeader(out: Buffer, at: number, r: DataRecordInput): number {
  out.writeUInt8(r.key.length, at);
  out.writeUInt8(r.flags, at + 1);
  out.writeUInt32LE(r.valueLength, at + 2);
  out.writeUInt32LE(r.crc >>> 0, at + 6);
  out.writeUInt32LE(r.timestamp >>> 0, at + 10);
  r.key.copy(out, at + DATA_HEADER_SIZE);
  const crc = crc32(r.key, crc32(out.subarray(at, at + 14)));
  out.writeUInt32LE(crc >>> 0, at + 14);
  return at + DATA_HEADER_SIZE + r.key.length;
}

export interface DataHeader {
  keyLen: number;
  flags: number;
  valueLen: number;
  valueCrc: number;
  timestamp: number;
}

/** Parses a data record header followed by its key; undefined when its CRC fails. */
export function readDataHeader(b: Buffer, at: number): DataHeader | undefined {
  if (b.length < at + DATA_HEADER_SIZE) return undefined;
  const keyLen = b.readUInt8(at);
  if (b.length < at + DATA_HEADER_SIZE + keyLen) return undefined;
  const expect = crc32(
    b.subarray(at + DATA_HEADER_SIZE, at + DATA_HEADER_SIZE + keyLen),
    crc32(b.subarray(at, at + 14)),
  );
  if (expect >>> 0 !== b.readUInt32LE(at + 14)) return undefined;
  return {
    keyLen,
    flags: b.readUInt8(at + 1),
    valueLen: b.readUInt32LE(at + 2),
    valueCrc: b.readUInt32LE(at + 6),
    timestamp: b.readUInt32LE(at + 10),
  };
}

export interface IndexRecord {
  key: Buffer;
  flags: number;
  dataId: number;
  dataOffset: number;
  length: number;
  crc: number;
  timestamp: number;
  prevId: number;
  prevOffset: number;
}

export function indexRecordSize(keyLen: number): number {
  return INDEX_FIXED_SIZE + keyLen + INDEX_TRAILER_SIZE;
}

export function writeIndexRecord(out: Buffer, at: number, r: IndexRecord): number {
  out.writeUInt8(r.key.length, at);
  out.writeUInt8(r.flags, at + 1);
  out.writeUInt16LE(r.dataId, at + 2);
  out.writeUInt32LE(r.dataOffset, at + 4);
  out.writeUInt32LE(r.length, at + 8);
  out.writeUInt32LE(r.crc >>> 0, at + 12);
  out.writeUInt32LE(r.timestamp >>> 0, at + 16);
  out.writeUInt16LE(r.prevId, at + 20);
  out.writeUInt32LE(r.prevOffset, at + 22);
  r.key.copy(out, at + INDEX_FIXED_SIZE);
  const end = at + INDEX_FIXED_SIZE + r.key.length;
  out.writeUInt32LE(crc32(out.subarray(at, end)) >>> 0, end);
  out.writeUInt8(r.key.length, end + 4);
  return end + INDEX_TRAILER_SIZE;
}

/** Parses the index record at `at`; undefined when it is incomplete or its CRC fails (a torn or damaged tail). */
export function readIndexRecord(b: Buffer, at: number): IndexRecord | undefined {
  if (b.length < at + INDEX_FIXED_SIZE) return undefined;
  const keyLen = b.readUInt8(at);
  const end = at + INDEX_FIXED_SIZE + keyLen;
  if (b.length < end + INDEX_TRAILER_SIZE) return undefined;
  if (crc32(b.subarray(at, end)) >>> 0 !== b.readUInt32LE(end)) return undefined;
  if (b.readUInt8(end + 4) !== keyLen) return undefined;
  return {
    key: Buffer.from(b.subarray(at + INDEX_FIXED_SIZE, end)),
    flags: b.readUInt8(at + 1),
    dataId: b.readUInt16LE(at + 2),
    dataOffset: b.readUInt32LE(at + 4),
    length: b.readUInt32LE(at + 8),
    crc: b.readUInt32LE(at + 12),
    timestamp: b.readUInt32LE(at + 16),
    prevId: b.readUInt16LE(at + 20),
    prevOffset: b.readUInt32LE(at + 22),
  };
}

/** A value as one buffer, or as the pieces it arrived in (never joined: see resp-parser.ts). */
export type ValueBytes = Buffer | readonly Buffer[];

export function valueLength(value: ValueBytes): number {
  if (Buffer.isBuffer(value)) return value.length;
  let n = 0;
  for (const p of value) n += p.length;
  return n;
}

export function valueCrc(value: ValueBytes): number {
  if (Buffer.isBuffer(value)) return crc32(value) >>> 0;
  let crc = 0;
  for (const p of value) crc = crc32(p, crc);
  return crc >>> 0;
}
