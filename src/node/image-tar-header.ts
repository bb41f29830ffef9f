import { fail } from '../core/assert.ts';

/*
 * One tar header block (POSIX ustar, and GNU tar's variant of it) and the bodies of the
 * extended headers that override its fields: pax records (POSIX.1-2001 `x`/`g`) and GNU
 * long names (`L`/`K`). Our own parser, strict where strictness costs nothing: checksums
 * are checked, numbers must be well-formed octal or GNU base-256, names valid UTF-8.
 */

export const BLOCK = 512;

export type TarHeaderType =
  | 'file'
  | 'directory'
  | 'symlink'
  | 'hardlink'
  | 'char-device'
  | 'block-device'
  | 'fifo'
  | 'pax-local'
  | 'pax-global'
  | 'gnu-long-name'
  | 'gnu-long-link';

export interface TarHeader {
  type: TarHeaderType;
  /** ustar `prefix/name` joined (GNU archives keep no prefix) */
  name: string;
  linkName: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
}

// '7' is a contiguous file, which every reader treats as a regular one.
const TYPES: Record<string, TarHeaderType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
  x: 'pax-local',
  g: 'pax-global',
  L: 'gnu-long-name',
  K: 'gnu-long-link',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text up to the first NUL, as UTF-8. @throws VdcError IMAGE_TAR_MALFORMED */
export function tarString(bytes: Uint8Array, what: string): string {
  const end = bytes.indexOf(0);
  try {
    return utf8.decode(end === -1 ? bytes : bytes.subarray(0, end));
  } catch (cause) {
    return fail('IMAGE_TAR_MALFORMED', `${what} is not valid UTF-8: rebuild the image`, cause);
  }
}

/**
 * A numeric field: octal digits padded with spaces or NULs, or GNU base-256 (first byte
 * 0x80) for values past the octal range. Negative base-256 values are refused.
 */
function tarNumber(field: Buffer, what: string): number {
  const first = field[0] ?? 0;
  if (first & 0x80) {
    if (first !== 0x80) fail('IMAGE_TAR_MALFORMED', `${what} is a negative base-256 number`);
    let value = 0;
    for (let i = 1; i < field.length; i++) {
      value = value * 256 + (field[i] ?? 0);
      if (value > Number.MAX_SAFE_INTEGER) fail('IMAGE_TAR_MALFORMED', `${what} is too large`);
    }
    return value;
  }
  const text = field
    .toString('latin1')
    .replace(/^ +/, '')
    .replace(/[ \0]+$/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text))
    fail('IMAGE_TAR_MALFORMED', `${what} is not an octal number: ${JSON.stringify(text)}`);
  const value = Number.parseInt(text, 8);
  if (!Number.isSafeInteger(value)) fail('IMAGE_TAR_MALFORMED', `${what} is too large`);
  return value;
}

export function isZeroBlock(block: Buffer): boolean {
  for (const byte of block) if (byte !== 0) return false;
  return true;
}

/** Whether the stored checksum matches, summing bytes unsigned or (old tars) signed. */
function checksumMatches(block: Buffer, stored: number): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

/**
 * Parses one 512-byte header block; `index` (1-based) names it in errors.
 * @throws VdcError IMAGE_TAR_MALFORMED, IMAGE_ENTRY_TYPE_UNSUPPORTED
 */
export function parseHeader(block: Buffer, index: number): TarHeader {
  const at = `tar header ${index}`;
  const magic = block.toString('latin1', 257, 265);
  const ustar = magic === 'ustar\x0000';
  const gnu = magic === 'ustar  \0';
  if (!ustar && !gnu)
    fail('IMAGE_TAR_MALFORMED', `${at} is not a ustar, pax or GNU header: the image must be a tar`);
  const stored = tarNumber(block.subarray(148, 156), `${at} checksum`);
  if (!checksumMatches(block, stored))
    fail('IMAGE_TAR_MALFORMED', `${at} has a wrong checksum: the tarball is corrupt`);
  const flag = String.fromCharCode(block[156] ?? 0);
  const type = TYPES[flag];
  if (type === undefined)
    fail(
      'IMAGE_ENTRY_TYPE_UNSUPPORTED',
      `${at} has entry type ${JSON.stringify(flag)} (sparse, multi-volume or vendor): ` +
        `rebuild the image as a plain tar`,
    );
  const name = tarString(block.subarray(0, 100), `${at} name`);
  const prefix = ustar ? tarString(block.subarray(345, 500), `${at} prefix`) : '';
  return {
    type,
    name: prefix === '' ? name : `${prefix}/${name}`,
    linkName: tarString(block.subarray(157, 257), `${at} link name`),
    mode: tarNumber(block.subarray(100, 108), `${at} mode`),
    uid: tarNumber(block.subarray(108, 116), `${at} uid`),
    gid: tarNumber(block.subarray(116, 124), `${at} gid`),
    size: tarNumber(block.subarray(124, 136), `${at} size`),
    mtime: tarNumber(block.subarray(136, 148), `${at} mtime`),
  };
}

/**
 * Parses the body of a pax extended header: records `LEN key=value\n`, LEN counting the
 * whole record in bytes. Later records of one key win, as POSIX says.
 * @throws VdcError IMAGE_TAR_MALFORMED
 */
export function parsePax(data: Buffer, index: number): Map<string, string> {
  const records = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    // GNU tar pads nothing, but some writers end the body with NULs: stop there.
    if (data[pos] === 0) break;
    const space = data.indexOf(0x20, pos);
    const lenText = space === -1 ? '' : data.toString('latin1', pos, space);
    if (!/^[1-9][0-9]{0,8}$/.test(lenText))
      fail('IMAGE_TAR_MALFORMED', `pax header ${index} has a record without a valid length`);
    const end = pos + Number(lenText);
    if (end > data.length || data[end - 1] !== 0x0a || end <= space + 1)
      fail('IMAGE_TAR_MALFORMED', `pax header ${index} has a record that overruns its header`);
    const record = data.subarray(space + 1, end - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) fail('IMAGE_TAR_MALFORMED', `pax header ${index} has a record without a key`);
    let key: string;
    let value: string;
    try {
      key = utf8.decode(record.subarray(0, eq));
      value = utf8.decode(record.subarray(eq + 1));
    } catch (cause) {
      return fail('IMAGE_TAR_MALFORMED', `pax header ${index} is not valid UTF-8`, cause);
    }
    records.set(key, value);
    pos = end;
  }
  return records;
}

/** A decimal pax number (`size`, `uid`, `gid`; `mtime` may carry a fraction, dropped). */
export function paxNumber(value: string, key: string, index: number): number {
  const text = key === 'mtime' ? value.replace(/\.[0-9]*$/, '') : value;
  if (!/^[0-9]{1,16}$/.test(text) || !Number.isSafeInteger(Number(text)))
    fail('IMAGE_TAR_MALFORMED', `pax header ${index} has ${key}=${JSON.stringify(value)}`);
  return Number(text);
}
