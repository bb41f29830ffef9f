import { MAX_VALUE_LENGTH } from './record-format.ts';

/*
 * A strict, bounded RESP2 request parser (arrays of bulk strings only, like 0-db). Limits
 * stop a client from making the server allocate what a header claims: a header line is at
 * most 32 bytes, an array at most 1024 items (MGET of 1023 keys), a bulk at most 8 MiB, a
 * whole request at most 8 MiB + 64 KiB; a bulk's memory is allocated only once its bytes
 * start arriving, and a bulk that lies whole in a received chunk is a view of it (no copy).
 *
 * A big bulk that spans several received chunks is, where the owner allows it (zdb: the
 * value of SET), handed over as the list of views of the chunks it arrived in: no buffer
 * is allocated for it and nothing is copied, and the store writes those pieces to its
 * file as they are. Profiling zstor over zdb showed the allocation and copy of every value
 * (fresh memory, page faults included) as the largest cost of a put on the server.
 */

export const MAX_ARGS = 1024;
export const MAX_REQUEST_BYTES = MAX_VALUE_LENGTH + 64 * 1024;
const MAX_HEADER_LINE = 32;
/** Bulks shorter than this are joined even where they may stay split (few pieces, cheap copy). */
export const SPLIT_MIN_BYTES = 64 * 1024;

/** A protocol error: the server answers `-message` and closes the connection, as 0-db does. */
export class RespProtocolError extends Error {}

/** The argument at `index` arrived as `parts` (its entry in the args is then empty). */
export interface SplitArg {
  readonly index: number;
  readonly parts: readonly Buffer[];
}

/** Whether the bulk at `index` of a request that starts with `command` may be delivered split. */
export type MayStaySplit = (command: Buffer, index: number) => boolean;

const HEADER_ARRAY = 0;
const HEADER_BULK = 1;
const BODY = 2;
const BODY_END = 3;
const EMPTY = Buffer.alloc(0);

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
  private readonly mayStaySplit: MayStaySplit | undefined;
  private pending: Buffer | undefined;
  private state = HEADER_ARRAY;
  private argc = 0;
  private args: Buffer[] = [];
  private split: SplitArg | undefined;
  private bulkLen = 0;
  /** The bulk being received: copied into `bulk`, or gathered as views in `parts`. */
  private bulk: Buffer | undefined;
  private parts: Buffer[] | undefined;
  private bulkFilled = 0;
  /** CR and LF bytes seen after a bulk's body (BODY_END). */
  private crlf = 0;
  private total = 0;

  /** `mayStaySplit` says which big bulks may be delivered as pieces (none when absent). */
  constructor(mayStaySplit?: MayStaySplit) {
    this.mayStaySplit = mayStaySplit;
  }

  /** True while a request is partly received. */
  get partial(): boolean {
    return this.state !== HEADER_ARRAY || this.pending !== undefined;
  }

  /**
   * Feeds received bytes; calls `onCommand` for each complete request, synchronously. Its
   * buffers (and a split argument's parts) may be views of `chunk`, which must never be
   * written again: keep them only while that holds, copy them otherwise.
   * @throws RespProtocolError with 0-db's error text
   */
  feed(chunk: Buffer, onCommand: (args: Buffer[], split: SplitArg | undefined) => void): void {
    let rest = chunk;
    // A header line cut by the previous chunk: join it with just enough of this one to end
    // it (at most a header line's length), never with the whole chunk.
    while (this.pending !== undefined && rest.length > 0) {
      const take = Math.min(rest.length, MAX_HEADER_LINE + 2);
      const head = Buffer.concat([this.pending, rest.subarray(0, take)]);
      this.pending = undefined;
      rest = rest.subarray(take);
      this.parse(head, onCommand);
    }
    if (rest.length > 0) this.parse(rest, onCommand);
  }

  private parse(
    buf: Buffer,
    onCommand: (args: Buffer[], split: SplitArg | undefined) => void,
  ): void {
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      if (this.state === BODY) {
        if (this.bulk === undefined && this.parts === undefined && len - pos >= this.bulkLen + 2) {
          // the whole bulk and its CRLF are here: a view
          const end = pos + this.bulkLen;
          if (buf[end] !== 13 || buf[end + 1] !== 10)
            throw new RespProtocolError('Malformed query string');
          this.args.push(buf.subarray(pos, end));
          pos = end + 2;
        } else {
          if (this.bulk === undefined && this.parts === undefined) {
            const splittable =
              this.bulkLen >= SPLIT_MIN_BYTES &&
              this.mayStaySplit?.(this.args[0] ?? EMPTY, this.args.length) === true;
            if (splittable) this.parts = [];
            else this.bulk = Buffer.allocUnsafe(this.bulkLen);
            this.bulkFilled = 0;
          }
          const n = Math.min(this.bulkLen - this.bulkFilled, len - pos);
          if (n > 0) {
            if (this.parts !== undefined) this.parts.push(buf.subarray(pos, pos + n));
            else buf.copy(this.bulk!, this.bulkFilled, pos, pos + n);
            this.bulkFilled += n;
            pos += n;
          }
          if (this.bulkFilled < this.bulkLen) return;
          this.state = BODY_END;
          this.crlf = 0;
          continue;
        }
        this.endArg(onCommand);
        continue;
      }
      if (this.state === BODY_END) {
        while (this.crlf < 2 && pos < len) {
          if (buf[pos] !== (this.crlf === 0 ? 13 : 10))
            throw new RespProtocolError('Malformed query string');
          this.crlf++;
          pos++;
        }
        if (this.crlf < 2) return;
        if (this.parts !== undefined) {
          this.split = { index: this.args.length, parts: this.parts };
          this.args.push(EMPTY);
        } else this.args.push(this.bulk!);
        this.bulk = undefined;
        this.parts = undefined;
        this.endArg(onCommand);
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

  /** One bulk was added to `args`: the request is complete, or the next bulk's header follows. */
  private endArg(onCommand: (args: Buffer[], split: SplitArg | undefined) => void): void {
    if (this.args.length < this.argc) {
      this.state = HEADER_BULK;
      return;
    }
    const args = this.args;
    const split = this.split;
    this.args = [];
    this.split = undefined;
    this.state = HEADER_ARRAY;
    onCommand(args, split);
  }
}
