/*
 * Reads the server name (SNI, RFC 6066 §3) from the first bytes of a TLS connection without
 * terminating it, for tls-passthrough routing. Bounded: the ClientHello may span records but
 * is read only up to MAX_HELLO_BYTES; anything malformed is refused, never guessed.
 */

export const MAX_HELLO_BYTES = 16_384;

export type HelloScan =
  | { state: 'more' }
  | { state: 'done'; serverName: string | undefined }
  | { state: 'invalid'; why: string };

/** Joins the handshake fragments of the records seen so far; undefined if a record is not a handshake. */
function handshakeBytes(buf: Buffer): { bytes: Buffer; complete: boolean } | string {
  const parts: Buffer[] = [];
  let off = 0;
  while (off + 5 <= buf.length) {
    if (buf[off] !== 22) return 'the first TLS record is not a handshake';
    if (buf[off + 1] !== 3) return 'not a TLS record version';
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > 16_384) return 'a TLS record length out of range';
    if (off + 5 + len > buf.length) break;
    parts.push(buf.subarray(off + 5, off + 5 + len));
    off += 5 + len;
  }
  const bytes = Buffer.concat(parts);
  if (bytes.length < 4) return { bytes, complete: false };
  if (bytes[0] !== 1) return 'the first handshake message is not a ClientHello';
  const len = bytes.readUIntBE(1, 3);
  if (len + 4 > MAX_HELLO_BYTES) return 'the ClientHello is too large';
  return { bytes: bytes.subarray(4, 4 + len), complete: bytes.length >= 4 + len };
}

/** Scans the bytes received so far. */
export function scanClientHello(buf: Buffer): HelloScan {
  const hs = handshakeBytes(buf);
  if (typeof hs === 'string') return { state: 'invalid', why: hs };
  if (!hs.complete) {
    if (buf.length > MAX_HELLO_BYTES + 5 * 4)
      return { state: 'invalid', why: 'the ClientHello is too large' };
    return { state: 'more' };
  }
  try {
    return { state: 'done', serverName: serverNameOf(hs.bytes) };
  } catch (err) {
    return { state: 'invalid', why: (err as Error).message };
  }
}

function serverNameOf(b: Buffer): string | undefined {
  let off = 2 + 32; // legacy_version, random
  const need = (n: number) => {
    if (off + n > b.length) throw new Error('the ClientHello is truncated');
  };
  need(1);
  off += 1 + b[off]!; // session id
  need(2);
  off += 2 + b.readUInt16BE(off); // cipher suites
  need(1);
  off += 1 + b[off]!; // compression methods
  if (off === b.length) return undefined; // no extensions
  need(2);
  const end = off + 2 + b.readUInt16BE(off);
  off += 2;
  if (end > b.length) throw new Error('the ClientHello extensions are truncated');
  while (off + 4 <= end) {
    const type = b.readUInt16BE(off);
    const len = b.readUInt16BE(off + 2);
    off += 4;
    if (off + len > end) throw new Error('a ClientHello extension is truncated');
    if (type === 0) return hostName(b.subarray(off, off + len));
    off += len;
  }
  return undefined;
}

function hostName(ext: Buffer): string {
  if (ext.length < 2 || ext.readUInt16BE(0) + 2 !== ext.length)
    throw new Error('the server_name list length is wrong');
  let off = 2;
  while (off + 3 <= ext.length) {
    const type = ext[off]!;
    const len = ext.readUInt16BE(off + 1);
    off += 3;
    if (off + len > ext.length) throw new Error('a server name is truncated');
    if (type === 0) {
      const name = ext.subarray(off, off + len).toString('latin1');
      if (!/^[A-Za-z0-9.-]{1,253}$/.test(name))
        throw new Error('the server name is not a DNS name');
      return name.toLowerCase();
    }
    off += len;
  }
  throw new Error('the server_name extension holds no host name');
}
