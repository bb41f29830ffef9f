import { VdcError } from '../core/errors.ts';

/*
 * The client's RESP2 reply parser. Replies are matched to requests in order by the caller,
 * which says for each one whether a bulk value may come back as the pieces it arrived in.
 *
 * Bulk values are never copied when that can be avoided: a bulk that lies whole in the
 * received bytes is a view of them, and a big top-level bulk that spans several received
 * chunks is gathered as views of each chunk. It is joined (one copy) only for a caller
 * that wants one buffer; a caller that takes pieces (zstor reading shards) gets the views.
 * Profiling zstor's reads showed that join, with its fresh buffer, as the client's largest
 * cost after SHA-256 and AES.
 */

export type ZdbReply = string | number | Buffer | null | ZdbReply[];

/** A bulk value as the pieces it arrived in (views of received bytes, in order). */
export class BulkParts {
  readonly parts: readonly Buffer[];
  constructor(parts: readonly Buffer[]) {
    this.parts = parts;
  }
}

/** Replies (including queued unread bytes) larger than this are refused as not RESP. */
export const MAX_REPLY_BYTES = 64 * 1024 * 1024;
/** Top-level bulks at least this long are gathered as views rather than joined. */
export const BIG_BULK_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);
/** parse()'s answer when it started gathering a big bulk (continueBody takes over). */
const BODY_STARTED = Symbol('body started');

export class ReplyReader {
  /** Unparsed bytes, then received chunks not yet joined to them. */
  private buf: Buffer = EMPTY;
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  /** Bytes known to be needed before the next reply can be complete (a bulk's length). */
  private need = 0;
  /** A big bulk being gathered: its pieces so far, the body bytes still to come, CRLF seen. */
  private body: { parts: Buffer[]; left: number; crlf: number } | undefined;

  /** @throws VdcError ZDB_PROTOCOL when unread bytes pass MAX_REPLY_BYTES */
  push(chunk: Buffer): void {
    // gather chunks without copying until the reply being received can be complete
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    if (this.buf.length + this.chunkBytes > MAX_REPLY_BYTES)
      throw new VdcError(
        'ZDB_PROTOCOL',
        'reply larger than 64 MiB: the server is not speaking RESP',
      );
  }

  /**
   * The next complete reply, or undefined if more bytes are needed. With `wantParts`, a
   * bulk reply comes as BulkParts (one piece when it arrived whole); otherwise as a Buffer.
   * @throws VdcError ZDB_PROTOCOL on bytes that are not a RESP2 reply
   */
  next(wantParts = false): { value: ZdbReply | BulkParts | VdcError } | undefined {
    if (this.body !== undefined) return this.continueBody(wantParts);
    if (this.buf.length + this.chunkBytes < this.need) return undefined;
    if (this.chunks.length > 0) {
      this.buf =
        this.buf.length === 0 && this.chunks.length === 1
          ? this.chunks[0]!
          : Buffer.concat([this.buf, ...this.chunks]);
      this.chunks = [];
      this.chunkBytes = 0;
    }
    this.need = 0;
    const r = this.parse(0, true);
    if (!r) return undefined;
    this.buf = this.buf.subarray(r.end);
    if (r.value === BODY_STARTED) return this.continueBody(wantParts);
    if (wantParts && Buffer.isBuffer(r.value)) return { value: new BulkParts([r.value]) };
    return { value: r.value };
  }

  /** Moves received bytes into the big bulk being gathered; its value once complete. */
  private continueBody(wantParts: boolean): { value: Buffer | BulkParts } | undefined {
    const body = this.body!;
    while (body.left > 0 || body.crlf < 2) {
      let src = this.buf;
      if (src.length === 0) {
        const next = this.chunks.shift();
        if (next === undefined) return undefined;
        this.chunkBytes -= next.length;
        src = next;
      }
      if (body.left > 0) {
        const take = Math.min(body.left, src.length);
        body.parts.push(src.subarray(0, take));
        body.left -= take;
        src = src.subarray(take);
      }
      while (body.left === 0 && body.crlf < 2 && src.length > 0) {
        if (src[0] !== (body.crlf === 0 ? 13 : 10))
          throw new VdcError('ZDB_PROTOCOL', 'a bulk reply does not end with CRLF');
        body.crlf++;
        src = src.subarray(1);
      }
      this.buf = src;
    }
    this.body = undefined;
    if (wantParts) return { value: new BulkParts(body.parts) };
    return { value: body.parts.length === 1 ? body.parts[0]! : Buffer.concat(body.parts) };
  }

  private parse(
    at: number,
    top: boolean,
  ): { value: ZdbReply | VdcError | typeof BODY_STARTED; end: number } | undefined {
    const nl = this.buf.indexOf('\r\n', at);
    if (nl < 0) return undefined;
    const type = String.fromCharCode(this.buf[at]!);
    const line = this.buf.toString('latin1', at + 1, nl);
    const after = nl + 2;
    switch (type) {
      case '+':
        return { value: line, end: after };
      case '-':
        return { value: new VdcError('ZDB_REPLY_ERROR', line), end: after };
      case ':':
        return { value: Number(line), end: after };
      case '$': {
        const n = Number(line);
        if (!Number.isInteger(n) || n > MAX_REPLY_BYTES)
          throw new VdcError('ZDB_PROTOCOL', `bad bulk length ${JSON.stringify(line)}`);
        if (n < 0) return { value: null, end: after };
        if (this.buf.length < after + n + 2) {
          if (top && n >= BIG_BULK_BYTES) {
            // gather the body as views of what arrives, from here on
            this.body = { parts: [], left: n, crlf: 0 };
            return { value: BODY_STARTED, end: after };
          }
          this.need = Math.max(this.need, after + n + 2);
          return undefined;
        }
        if (this.buf[after + n] !== 13 || this.buf[after + n + 1] !== 10)
          throw new VdcError('ZDB_PROTOCOL', 'a bulk reply does not end with CRLF');
        // A view, not a copy: the buffer it points into is this reply's (and its
        // neighbours'), never written again, so handing it out is safe.
        return { value: this.buf.subarray(after, after + n), end: after + n + 2 };
      }
      case '*': {
        const n = Number(line);
        if (!Number.isInteger(n))
          throw new VdcError('ZDB_PROTOCOL', `bad array length ${JSON.stringify(line)}`);
        if (n < 0) return { value: null, end: after };
        const items: ZdbReply[] = [];
        let pos = after;
        for (let i = 0; i < n; i++) {
          const r = this.parse(pos, false);
          if (!r) return undefined;
          if (r.value instanceof VdcError) throw r.value;
          items.push(r.value as ZdbReply);
          pos = r.end;
        }
        return { value: items, end: pos };
      }
      default:
        throw new VdcError('ZDB_PROTOCOL', `unexpected reply type ${JSON.stringify(type)}`);
    }
  }
}
