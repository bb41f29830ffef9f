import { MAX_VALUE_LENGTH } from './record-format.ts';

/*
 * A strict, bounded RESP2 request parser (arrays of bulk strings only, like 0-db). Limits
 * stop a client from making the server allocate what a header claims: a header line is at
 * most 32 bytes, an array at most 1024 items (MGET of 1023 keys), a bulk at most 8 MiB, a
 * whole request at most 8 MiB + 64 KiB; a bulk's memory is allocated only once its bytes
 * start arriving, and small bulks are views of the received chunk (no copy).
 */

export const MAX_ARGS = 1024;
export const MAX_REQUEST_BYTES = MAX_VALUE_LENGTH + 64 * 1024;
const MAX_HEADER_LINE = 32;

/** A protocol error: the server answers `-message` and closes the connection, as 0-db does. */
export class RespProtocolError extends Error {}

const HEADER_ARRAY = 0;
const HEADER_BULK = 1;
const BODY = 2;

function parseCount(buf: Buffer, from: number, to: number): number {
  if (to <= from || to - from > 10) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = buf[i]!;
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

export class RespParser {
  private pending: Buffer | undefined;
  private state = HEADER_ARRAY;
  private argc = 0;
  private args: Buffer[] = [];
  private bulkLen = 0;
  private bulk: Buffer | undefined;
  private bulkFilled = 0;
  private total = 0;

  /** True while a request is partly received. */
  get partial(): boolean {
    return this.state !== HEADER_ARRAY || this.pending !== undefined;
  }

  /**
   * Feeds received bytes; calls `onCommand` for each complete request, synchronously (its
   * buffers may be views of `chunk`: copy what you keep).
   * @throws RespProtocolError with 0-db's error text
   */
  feed(chunk: Buffer, onCommand: (args: Buffer[]) => void): void {
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      if (this.state === BODY) {
        const need = this.bulkLen + 2;
        if (this.bulk === undefined && len - pos >= need) {
          if (buf[pos + this.bulkLen] !== 13 || buf[pos + this.bulkLen + 1] !== 10)
            throw new RespProtocolError('Malformed query string');
          this.args.push(buf.subarray(pos, pos + this.bulkLen));
          pos += need;
        } else {
          if (this.bulk === undefined) {
            this.bulk = Buffer.allocUnsafe(need);
            this.bulkFilled = 0;
          }
          const n = Math.min(need - this.bulkFilled, len - pos);
          buf.copy(this.bulk, this.bulkFilled, pos, pos + n);
          this.bulkFilled += n;
          pos += n;
          if (this.bulkFilled < need) return;
          if (this.bulk[this.bulkLen] !== 13 || this.bulk[this.bulkLen + 1] !== 10)
            throw new RespProtocolError('Malformed query string');
          this.args.push(this.bulk.subarray(0, this.bulkLen));
          this.bulk = undefined;
        }
        if (this.args.length === this.argc) {
          const args = this.args;
          this.args = [];
          this.state = HEADER_ARRAY;
          onCommand(args);
        } else this.state = HEADER_BULK;
        continue;
      }
      const isArray = this.state === HEADER_ARRAY;
      const nl = buf.indexOf(10, pos);
      if (nl < 0 || nl - pos > MAX_HEADER_LINE) {
        if (nl < 0 && len - pos <= MAX_HEADER_LINE) {
          if (isArray && buf[pos] !== 42)
            throw new RespProtocolError('Malformed request, array expected');
          this.pending = Buffer.from(buf.subarray(pos));
          return;
        }
        throw new RespProtocolError(
          isArray ? 'Malformed request, array expected' : 'Malformed query string',
        );
      }
      if (isArray) {
        if (buf[pos] !== 42) throw new RespProtocolError('Malformed request, array expected');
        if (buf[nl - 1] !== 13) throw new RespProtocolError('Malformed request, array expected');
        const n = parseCount(buf, pos + 1, nl - 1);
        if (n < 0) throw new RespProtocolError('Malformed request, array expected');
        if (n === 0) throw new RespProtocolError('Missing arguments');
        if (n > MAX_ARGS) throw new RespProtocolError('Too many arguments');
        this.argc = n;
        this.total = 0;
        this.state = HEADER_BULK;
      } else {
        if (buf[pos] !== 36 || buf[nl - 1] !== 13)
          throw new RespProtocolError('Malformed query string');
        const n = parseCount(buf, pos + 1, nl - 1);
        if (n < 0) throw new RespProtocolError('Malformed query string');
        if (n > MAX_VALUE_LENGTH) throw new RespProtocolError('Payload too big');
        this.total += n;
        if (this.total > MAX_REQUEST_BYTES) throw new RespProtocolError('Payload too big');
        this.bulkLen = n;
        this.state = BODY;
      }
      pos = nl + 1;
    }
  }
}
