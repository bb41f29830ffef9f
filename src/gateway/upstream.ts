import type { ClientHttp2Stream } from 'node:http2';
import { asVdcError, VdcError } from '../core/errors.ts';
import { type ResponseHandler, ResponseReader, TOKEN, VALUE } from './response-reader.ts';

/*
 * http mode's requests to one tunnel's target: HTTP/1.1 that the gateway writes itself onto
 * kept-alive CONNECT streams, and answers read by ResponseReader. The tunnel client only
 * relays bytes. Node's HTTP client and agent did this before at about twice the gateway's CPU
 * per request (docs/gateway.md, Speed); what a request carries was already checked by the
 * public listener's parser, and the head is checked again here before it is written.
 *
 * A connection is reused only after a whole answer that allows it to a whole request. Idle
 * ones are kept last-in first-out, and one idle longer than IDLE_MS is closed rather than
 * reused (servers drop idle connections after their keep-alive timeout, node's after 5 s). A
 * GET, HEAD or OPTIONS without a body whose reused connection ended before any answer byte
 * is sent once more on a new connection: the backend closed it as the request went out,
 * and such a request may be sent twice (RFC 9110 §9.2.2).
 */

export interface UpstreamRequest {
  method: string;
  /** origin-form target */
  path: string;
  /** raw pairs (name, value, …), without framing headers other than Content-Length */
  headers: string[];
  /** the request body's framing toward the backend: none, the Content-Length given, or chunked */
  body: 'none' | 'length' | 'chunked';
}

export interface UpstreamAnswer extends ResponseHandler {
  /** The exchange failed; nothing more is called. */
  fail(err: VdcError): void;
}

export interface UpstreamExchange {
  /** Writes a piece of the request body; false: wait for `onDrain`. */
  write(chunk: Buffer): boolean;
  /** The request body is complete. */
  end(): void;
  /** Stops the exchange (the client went away): its connection is not reused. */
  abort(): void;
  /** Pauses and resumes the answer, for a slow client. */
  pause(): void;
  resume(): void;
  onDrain?: () => void;
}

const IDLE_MS = 4_000;
/** methods sent once more when a reused connection closed under them (RFC 9110 §9.2.2) */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);
const MAX_IDLE = 256;

interface Conn {
  owner: Upstream;
  stream: ClientHttp2Stream;
  /** the exchange using it; undefined while idle */
  exchange: Exchange | undefined;
  idleSince: number;
  used: boolean;
}

/** The request's head, as bytes: node's parser gave each byte as one latin1 character. */
function requestHead(r: UpstreamRequest): Buffer {
  if (
    !r.path.startsWith('/') ||
    !VALUE.test(r.path) ||
    r.path.includes(' ') ||
    !TOKEN.test(r.method)
  )
    throw new VdcError('UPSTREAM_REQUEST_INVALID', 'the request cannot be written as HTTP/1.1');
  let head = `${r.method} ${r.path} HTTP/1.1\r\n`;
  for (let i = 0; i < r.headers.length; i += 2) {
    const name = r.headers[i]!;
    const value = r.headers[i + 1]!;
    if (!TOKEN.test(name) || !VALUE.test(value))
      throw new VdcError('UPSTREAM_REQUEST_INVALID', `header ${name} cannot be written`);
    head += `${name}: ${value}\r\n`;
  }
  head += r.body === 'chunked' ? 'Transfer-Encoding: chunked\r\n\r\n' : '\r\n';
  return Buffer.from(head, 'latin1');
}

class Exchange implements UpstreamExchange {
  onDrain?: () => void;
  readonly request: UpstreamRequest;
  readonly answer: UpstreamAnswer;
  readonly head: Buffer;
  reader: ResponseReader;
  conn: Conn | undefined;
  /** body pieces written before a connection was ready */
  queued: Buffer[] = [];
  sent = false;
  /** a body write is waiting for room */
  blocked = false;
  answered = false;
  settled = false;
  retried = false;
  /** whether its connection had carried an exchange before this one */
  reused = false;

  constructor(request: UpstreamRequest, answer: UpstreamAnswer, head: Buffer) {
    this.request = request;
    this.answer = answer;
    this.head = head;
    this.reader = this.newReader();
  }

  newReader(): ResponseReader {
    return new ResponseReader(this.request.method, {
      head: (status, headers) => this.answer.head(status, headers),
      body: (chunk, last) => {
        if (last) this.finish();
        this.answer.body(chunk, last);
      },
    });
  }

  write(chunk: Buffer): boolean {
    if (this.settled || chunk.length === 0) return true;
    const framed =
      this.request.body === 'chunked'
        ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, CRLF])
        : chunk;
    return this.#send(framed);
  }

  end(): void {
    if (this.settled) return;
    if (this.request.body === 'chunked') this.#send(LAST_CHUNK);
    this.sent = true;
  }

  #send(piece: Buffer): boolean {
    if (!this.conn) {
      this.queued.push(piece);
      this.blocked = true;
      return false;
    }
    if (this.conn.stream.write(piece)) return true;
    if (!this.blocked) {
      this.blocked = true;
      this.conn.stream.once('drain', () => this.drained());
    }
    return false;
  }

  /** Room again for the body (or a connection at last). */
  drained(): void {
    this.blocked = false;
    if (!this.settled) this.onDrain?.();
  }

  abort(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.conn) this.conn.owner.drop(this.conn);
    this.conn = undefined;
  }

  pause(): void {
    this.conn?.stream.pause();
  }

  resume(): void {
    this.conn?.stream.resume();
  }

  /** The whole answer is read: the connection goes back to the idle ones if it can. */
  finish(): void {
    this.settled = true;
    const conn = this.conn!;
    this.conn = undefined; // pause() and resume() now touch nothing another exchange uses
    conn.exchange = undefined;
    if (this.reader.reusable && (this.sent || this.request.body === 'none'))
      conn.owner.release(conn);
    else conn.owner.drop(conn);
  }

  fail(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    if (this.conn) this.conn.owner.drop(this.conn);
    this.answer.fail(asVdcError(err));
  }
}

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/** The kept-alive connections to one tunnel's target. */
export class Upstream {
  readonly #open: () => Promise<ClientHttp2Stream>;
  readonly #idle: Conn[] = [];
  readonly #idleMs: number;
  readonly #retryVia: (() => Upstream | undefined) | undefined;
  #closed = false;

  /**
   * `open` makes a new CONNECT stream to the target through the tunnel; `retryVia` names
   * where a request is sent once more (the next live tunnel for the name, maybe this one),
   * so a request caught by a tunnel going away is not lost when another serves the name.
   */
  constructor(
    open: () => Promise<ClientHttp2Stream>,
    o: { idleMs?: number; retryVia?: () => Upstream | undefined } = {},
  ) {
    this.#open = open;
    this.#idleMs = o.idleMs ?? IDLE_MS;
    this.#retryVia = o.retryVia;
  }

  /** Sends one request; the answer comes to `answer`, never before this returns. */
  exchange(request: UpstreamRequest, answer: UpstreamAnswer): UpstreamExchange {
    const ex = new Exchange(request, answer, requestHead(request));
    const now = Date.now();
    let conn = this.#idle.pop();
    while (conn && now - conn.idleSince > this.#idleMs) {
      this.drop(conn);
      conn = this.#idle.pop();
    }
    const reuse = conn;
    if (reuse) queueMicrotask(() => this.#attach(ex, reuse));
    else this.#connect(ex);
    return ex;
  }

  /** Closes the idle connections (the tunnel is going). */
  close(): void {
    this.#closed = true;
    for (const conn of this.#idle.splice(0)) conn.stream.destroy();
  }

  /** The number of idle connections kept. */
  get idle(): number {
    return this.#idle.length;
  }

  /** Keeps a connection for the next request; `since` is when it last carried one. */
  release(conn: Conn, since = Date.now()): void {
    if (this.#closed || this.#idle.length >= MAX_IDLE || conn.stream.destroyed)
      return void this.drop(conn);
    conn.idleSince = since;
    this.#idle.push(conn);
    // The oldest idle ones sit at the bottom: close those past their time.
    while (this.#idle.length > 1 && conn.idleSince - this.#idle[0]!.idleSince > this.#idleMs)
      this.drop(this.#idle.shift()!);
  }

  drop(conn: Conn): void {
    conn.exchange = undefined;
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    if (!conn.stream.destroyed) conn.stream.destroy();
  }

  #connect(ex: Exchange): void {
    this.#open().then(
      (stream) => this.#attach(ex, this.#adopt(stream)),
      (err) => ex.fail(err),
    );
  }

  #adopt(stream: ClientHttp2Stream): Conn {
    const conn: Conn = { owner: this, stream, exchange: undefined, idleSince: 0, used: false };
    stream.on('data', (chunk: Buffer) => {
      const ex = conn.exchange;
      if (!ex) return this.drop(conn); // an answer nobody asked for
      ex.answered = true;
      try {
        ex.reader.push(chunk);
      } catch (err) {
        ex.fail(err);
      }
    });
    stream.on('end', () => {
      const ex = conn.exchange;
      if (!ex) return this.drop(conn);
      if (!ex.answered)
        return this.#cut(
          ex,
          conn,
          new VdcError('TUNNEL_UNAVAILABLE', 'the backend closed the connection without answering'),
        );
      try {
        ex.reader.end();
      } catch (err) {
        this.#cut(ex, conn, err);
      }
    });
    stream.on('close', () => {
      const ex = conn.exchange;
      if (ex)
        this.#cut(ex, conn, new VdcError('TUNNEL_UNAVAILABLE', 'the backend connection closed'));
      else this.drop(conn);
    });
    stream.on('error', () => {}); // 'close' follows
    return conn;
  }

  /** A connection ended under an exchange: sent again once if it cannot have been seen. */
  #cut(ex: Exchange, conn: Conn, err: unknown): void {
    if (ex.settled) return;
    const again =
      ex.reused &&
      !ex.answered &&
      !ex.retried &&
      ex.request.body === 'none' &&
      IDEMPOTENT.has(ex.request.method);
    this.drop(conn);
    if (!again) return void ex.fail(err);
    ex.retried = true;
    ex.conn = undefined;
    ex.reader = ex.newReader();
    (this.#retryVia?.() ?? this).#connect(ex);
  }

  #attach(ex: Exchange, conn: Conn): void {
    // Aborted while waiting: nothing was sent on it, so it stays as it was for the next one.
    if (ex.settled) return void this.release(conn, conn.idleSince || Date.now());
    if (conn.stream.destroyed)
      return void this.#cut(
        ex,
        conn,
        new VdcError('TUNNEL_UNAVAILABLE', 'the backend connection closed'),
      );
    ex.conn = conn;
    ex.reused = conn.used;
    conn.exchange = ex;
    conn.used = true;
    let room = conn.stream.write(ex.head);
    for (const piece of ex.queued.splice(0)) room = conn.stream.write(piece);
    if (!ex.blocked) return;
    if (room) ex.drained();
    else conn.stream.once('drain', () => ex.drained());
  }
}
