import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

/*
 * Test helper: tarballs written header by header, so tests can make the archives that
 * no honest `tar` writes (escaping paths, device nodes, setuid files, wrong checksums).
 * Honest archives come from the system's GNU tar through `systemTar`.
 */

export interface KitEntry {
  path: string;
  /** the typeflag: '0' file, '1' hardlink, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo, 'x', 'g', 'L', 'K', … */
  type?: string;
  data?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  linkName?: string;
  /** pax records written as an `x` header right before this entry */
  pax?: Record<string, string>;
  /** overrides the size field (the data written stays `data`) */
  size?: number;
  /** corrupts the stored checksum */
  badChecksum?: boolean;
  /** writes a GNU ('ustar  \0') header instead of a POSIX one */
  gnu?: boolean;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** One 512-byte header block. */
export function tarHeader(e: KitEntry): Buffer {
  const b = Buffer.alloc(512);
  const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
  b.write(e.path, 0, 100, 'utf8');
  b.write(octal(e.mode ?? 0o644, 8), 100, 'latin1');
  b.write(octal(e.uid ?? 0, 8), 108, 'latin1');
  b.write(octal(e.gid ?? 0, 8), 116, 'latin1');
  b.write(octal(e.size ?? data.length, 12), 124, 'latin1');
  b.write(octal(1_700_000_000, 12), 136, 'latin1');
  b.write(e.type ?? '0', 156, 'latin1');
  b.write(e.linkName ?? '', 157, 100, 'utf8');
  b.write(e.gnu ? 'ustar  \0' : 'ustar\x0000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(octal(e.badChecksum ? sum + 1 : sum, 7), 148, 'latin1');
  b[155] = 0x20;
  return b;
}

/** The body of a pax extended header holding `records`. */
export function paxBody(records: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(records)) {
    const text = ` ${key}=${value}\n`;
    let len = Buffer.byteLength(text) + 1;
    while (String(len).length + Buffer.byteLength(text) !== len) len += 1;
    parts.push(Buffer.from(`${len}${text}`));
  }
  return Buffer.concat(parts);
}

function padded(data: Buffer): Buffer {
  const pad = (512 - (data.length % 512)) % 512;
  return Buffer.concat([data, Buffer.alloc(pad)]);
}

/** A whole tarball of `entries`, with the two zero blocks of the end; gzipped if asked. */
export function buildTar(entries: KitEntry[], opts: { gzip?: boolean } = {}): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    if (e.pax) {
      const body = paxBody(e.pax);
      blocks.push(tarHeader({ path: 'PaxHeader', type: 'x', data: body }), padded(body));
    }
    const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
    blocks.push(tarHeader(e), padded(data));
  }
  blocks.push(Buffer.alloc(1024));
  const tar = Buffer.concat(blocks);
  return opts.gzip ? gzipSync(tar) : tar;
}

/** A tarball of `dir`'s contents made by the system's GNU tar (`-z` for gzip). */
export function systemTar(dir: string, opts: { gzip?: boolean; format?: string } = {}): Buffer {
  return execFileSync('tar', [
    '-C',
    dir,
    `--format=${opts.format ?? 'gnu'}`,
    opts.gzip ? '-czf' : '-cf',
    '-',
    '.',
  ]);
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
