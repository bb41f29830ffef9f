import { VdcError } from '../core/errors.ts';

/*
 * Reads the backend's HTTP/1.1 answers off a kept-alive tunnel stream (http mode). The
 * backend is the owner's program, not ours, so it is read strictly (RFC 9112): CRLF line
 * ends, token header names, no control bytes, no obsolete folding, one framing — exactly
 * `chunked` or one Content-Length, never both — else the answer is refused
 * (UPSTREAM_RESPONSE_INVALID: the client gets 502 and the connection is not reused). Only
 * what this reader framed reaches the client, so a backend cannot smuggle a second answer
 * into a connection that carries another request. Interim answers (1xx) are read and
 * dropped.
 */

export interface ResponseHandler {
  /** The final answer's head; `headers` are raw pairs (name, value, …) as sent. */
  head(status: number, headers: string[]): void;
  /** A piece of the body, de-chunked; `last` when the answer is complete with it. */
  body(chunk: Buffer, last: boolean): void;
}

/** The largest answer head read (as the public listener's own cap). */
export const MAX_RESPONSE_HEAD = 65_536;
const MAX_CHUNK_LINE = 4_096;
const MAX_INTERIM = 8;

const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9][0-9]{2})(?: [\t\x20-\x7e\x80-\xff]*)?$/;
/** A header name (RFC 9110 §5.6.2 token); also what upstream.ts writes. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header value: no control bytes but HTAB (RFC 9110 §5.5). */
export const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TRAILER = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/;
const EMPTY = Buffer.alloc(0);
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,12})[\t ]*(?:;[\t\x20-\x7e\x80-\xff]*)?$/;

type Framing = 'none' | 'length' | 'chunked' | 'close';
type State =
  | 'head'
  | 'length'
  | 'chunk-size'
  | 'chunk-data'
  | 'chunk-end'
  | 'trailer'
  | 'close'
  | 'done';

function invalid(why: string): VdcError {
  return new VdcError(
    'UPSTREAM_RESPONSE_INVALID',
    `the backend's answer is not valid HTTP/1.1: ${why}`,
  );
}

/** Strips optional whitespace (SP and HTAB only: RFC 9110 §5.6.3). */
function ows(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value[start] === ' ' || value[start] === '\t')) start++;
  while (end > start && (value[end - 1] === ' ' || value[end - 1] === '\t')) end--;
  return value.slice(start, end);
}

/** The last three bytes of `before` followed by `data`. */
function tailOf(before: Buffer, data: Buffer): Buffer {
  if (data.length >= 3) return data.subarray(data.length - 3);
  const both = Buffer.concat([before, data]);
  return both.subarray(Math.max(0, both.length - 3));
}

export class ResponseReader {
  readonly #handler: ResponseHandler;
  readonly #noBody: boolean;
  #state: State = 'head';
  /** bytes of an unfinished head or chunk line, kept as they came (no copy per read) */
  #waiting: Buffer[] | undefined;
  #waitingBytes = 0;
  /** the last bytes waiting, where a line end may begin */
  #tail: Buffer = EMPTY;
  /** all heads of this answer so far, interim ones included */
  #headBytes = 0;
  #left = 0;
  #interim = 0;
  #keepAlive = false;

  /** `method` is the request's: the answer to HEAD has no body whatever it says. */
  constructor(method: string, handler: ResponseHandler) {
    this.#noBody = method === 'HEAD';
    this.#handler = handler;
  }

  /** Whether the answer has been read whole. */
  get done(): boolean {
    return this.#state === 'done';
  }

  /** Whether the connection can carry another request once this answer is done. */
  get reusable(): boolean {
    return this.#state === 'done' && this.#keepAlive;
  }

  /**
   * Reads the next bytes of the connection.
   * @throws VdcError UPSTREAM_RESPONSE_INVALID on anything but one well-framed answer
   */
  push(data: Buffer): void {
    if (data.length === 0) return;
    const buf = this.#gather(data);
    if (buf === undefined) return;
    let at = 0;
    // One read often holds the head and the whole body: the pieces are handed on together,
    // so the client gets one write; a head alone is handed on at once (server-sent events).
    const out: Buffer[] = [];
    let headed = false;
    while (at < buf.length) {
      if (this.#state === 'done') throw invalid('bytes after the end of the answer');
      if (this.#state === 'head') {
        const end = buf.indexOf('\r\n\r\n', at);
        if (this.#headBytes + (end < 0 ? buf.length : end) - at > MAX_RESPONSE_HEAD)
          throw invalid('heads larger than 64 KiB');
        if (end < 0) break;
        this.#headBytes += end - at;
        const framing = this.#readHead(buf.toString('latin1', at, end));
        at = end + 4;
        if (framing === undefined) continue; // an interim answer
        headed = true;
        this.#state =
          framing === 'none' || (framing === 'length' && this.#left === 0)
            ? 'done'
            : framing === 'chunked'
              ? 'chunk-size'
              : framing;
        continue;
      }
      if (this.#state === 'length' || this.#state === 'close' || this.#state === 'chunk-data') {
        const take =
          this.#state === 'close' ? buf.length - at : Math.min(this.#left, buf.length - at);
        out.push(buf.subarray(at, at + take));
        at += take;
        this.#left -= take;
        if (this.#left === 0 && this.#state !== 'close')
          this.#state = this.#state === 'length' ? 'done' : 'chunk-end';
        continue;
      }
      // The chunked framing's lines: a size line, the CRLF after a chunk, trailer lines.
      const eol = buf.indexOf('\r\n', at);
      if ((eol < 0 ? buf.length : eol) - at > MAX_CHUNK_LINE) throw invalid('chunk line too long');
      if (eol < 0) break;
      const line = buf.toString('latin1', at, eol);
      at = eol + 2;
      if (this.#state === 'chunk-end') {
        if (line !== '') throw invalid('chunk not followed by CRLF');
        this.#state = 'chunk-size';
      } else if (this.#state === 'chunk-size') {
        const m = CHUNK_SIZE.exec(line);
        if (!m) throw invalid('bad chunk size');
        this.#left = Number.parseInt(m[1]!, 16);
        this.#state = this.#left === 0 ? 'trailer' : 'chunk-data';
      } else if (line === '') this.#state = 'done';
      else if (!TRAILER.test(line)) throw invalid('bad trailer line'); // read and dropped
    }
    if (at < buf.length) this.#wait(buf.subarray(at));
    if (out.length > 0 || headed || this.#state === 'done')
      this.#handler.body(
        out.length === 0 ? EMPTY : out.length === 1 ? out[0]! : Buffer.concat(out),
        this.#state === 'done',
      );
  }

  /**
   * The bytes to read now, or undefined while an unfinished head or line stays unfinished:
   * a head sent a byte at a time is gathered once, not copied and searched again per byte.
   */
  #gather(data: Buffer): Buffer | undefined {
    if (!this.#waiting) return data;
    const end = this.#state === 'head' ? '\r\n\r\n' : '\r\n';
    const across = Buffer.concat([this.#tail, data.subarray(0, end.length - 1)]);
    this.#waiting.push(data);
    this.#waitingBytes += data.length;
    if (across.indexOf(end) < 0 && data.indexOf(end) < 0) {
      const cap = this.#state === 'head' ? MAX_RESPONSE_HEAD - this.#headBytes : MAX_CHUNK_LINE;
      // The last bytes waiting may be the start of the line end: not counted against the cap.
      if (this.#waitingBytes > cap + end.length - 1) throw invalid('head or chunk line too long');
      this.#tail = tailOf(this.#tail, data);
      return undefined;
    }
    const buf = Buffer.concat(this.#waiting);
    this.#waiting = undefined;
    return buf;
  }

  #wait(rest: Buffer): void {
    this.#waiting = [rest];
    this.#waitingBytes = rest.length;
    this.#tail = tailOf(EMPTY, rest);
  }

  /**
   * The connection ended: completes an answer framed by the close, else the answer was cut.
   * @throws VdcError UPSTREAM_RESPONSE_INVALID when the answer was not whole
   */
  end(): void {
    if (this.#state === 'done') return;
    if (this.#state !== 'close') throw invalid('the connection ended before the answer did');
    this.#state = 'done';
    this.#keepAlive = false;
    this.#handler.body(EMPTY, true);
  }

  /** Parses one head; the final answer's framing, or undefined for an interim (1xx) one. */
  #readHead(text: string): Framing | undefined {
    const lines = text.split('\r\n');
    const status = STATUS_LINE.exec(lines[0]!);
    if (!status) throw invalid('bad status line');
    const code = Number(status[2]);
    const headers: string[] = [];
    let length: string | undefined;
    let lengths = 0;
    let transfer: string | undefined;
    let close = status[1] === '0';
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      const name = colon < 0 ? '' : line.slice(0, colon);
      // A name of token bytes right up to the colon also refuses obsolete folding (a line
      // starting with a space) and a space before the colon.
      if (!TOKEN.test(name)) throw invalid(`bad header line ${JSON.stringify(line.slice(0, 40))}`);
      const value = ows(line.slice(colon + 1));
      if (!VALUE.test(value)) throw invalid(`bad byte in header ${name}`);
      const lower = name.toLowerCase();
      if (lower === 'content-length') {
        lengths++;
        length = value;
      } else if (lower === 'transfer-encoding') {
        if (transfer !== undefined) throw invalid('more than one Transfer-Encoding');
        transfer = value.toLowerCase();
      } else if (lower === 'connection' && /(?:^|,)[\t ]*close[\t ]*(?:,|$)/i.test(value))
        close = true;
      headers.push(name, value);
    }
    if (code < 200) {
      if (code === 101) throw invalid('an upgrade that was not asked for');
      if (++this.#interim > MAX_INTERIM) throw invalid('too many interim answers');
      return undefined;
    }
    const framing = this.#framing(code, transfer, lengths, length);
    // A bodiless answer whose head declares a body (HEAD, 204, 304): a backend may send that
    // body anyway, late, where it would be read as the next request's answer.
    const declared = transfer !== undefined || (length !== undefined && length !== '0');
    this.#keepAlive = !close && framing !== 'close' && !(framing === 'none' && declared);
    this.#handler.head(code, headers);
    return framing;
  }

  #framing(code: number, transfer: string | undefined, lengths: number, length?: string): Framing {
    // Checked even where no body follows: the header is passed on to the client.
    if (lengths > 1) throw invalid('more than one Content-Length');
    if (length !== undefined && !/^[0-9]{1,15}$/.test(length)) throw invalid('bad Content-Length');
    if (this.#noBody || code === 204 || code === 304) return 'none';
    if (transfer !== undefined) {
      if (lengths > 0) throw invalid('both Transfer-Encoding and Content-Length');
      if (transfer !== 'chunked') throw invalid('Transfer-Encoding other than chunked');
      return 'chunked';
    }
    if (length === undefined) return 'close';
    this.#left = Number(length);
    return 'length';
  }
}
