import { connect as netConnect, type Socket } from 'node:net';
import { VdcError } from '../core/errors.ts';
import { BulkParts, ReplyReader, type ZdbReply } from './reply-reader.ts';
import { secureHash } from './secure-auth.ts';

export type { ZdbReply } from './reply-reader.ts';

/*
 * A small RESP2 client for zdb (and 0-db): commands are queued and written at once, so
 * calls made in the same tick are pipelined; replies are matched in order. Error replies
 * reject with VdcError ZDB_REPLY_ERROR whose message is 0-db's text.
 *
 * Large values are never copied on the way out: a command's framing is built in small
 * buffers and its big arguments are handed to the socket as they are (one writev per
 * tick), and a value given as several parts goes out as one bulk string. Bulk replies are
 * views into the received bytes, not copies, and getParts() takes a big value as the
 * pieces it arrived in (reply-reader.ts). Profiling zstor showed these copies (and the
 * page faults of their fresh buffers) costing more than its encryption.
 */

/** A command argument; an array is one bulk string made of its parts, sent without joining them. */
export type ZdbArg = string | Buffer | number | readonly Uint8Array[];

const CRLF = Buffer.from('\r\n');
/** Arguments at least this long are written as they are rather than copied into the framing. */
const BIG_ARG = 32 * 1024;

/** Appends the RESP encoding of one command to `out`, big arguments by reference. */
function encode(args: readonly ZdbArg[], out: Uint8Array[]): void {
  let small: Uint8Array[] = [Buffer.from(`*${args.length}\r\n`)];
  const flush = () => {
    if (small.length > 0) out.push(small.length === 1 ? small[0]! : Buffer.concat(small));
    small = [];
  };
  for (const a of args) {
    const parts: readonly Uint8Array[] = Array.isArray(a)
      ? (a as readonly Uint8Array[])
      : [Buffer.isBuffer(a) ? a : Buffer.from(String(a), 'utf8')];
    let length = 0;
    for (const p of parts) length += p.length;
    small.push(Buffer.from(`$${length}\r\n`));
    for (const p of parts) {
      if (p.length < BIG_ARG) small.push(p);
      else {
        flush();
        out.push(p);
      }
    }
    small.push(CRLF);
  }
  flush();
}

export interface ZdbClientOptions {
  host?: string;
  port?: number;
  path?: string;
}

export class ZdbClient {
  private readonly socket: Socket;
  private readonly reader = new ReplyReader();
  private readonly waiting: {
    resolve: (v: ZdbReply | BulkParts) => void;
    reject: (e: Error) => void;
    parts: boolean;
  }[] = [];
  private queued: Uint8Array[] = [];
  private closedError: Error | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
        const wantsParts = () => this.waiting[0]?.parts === true;
        for (let r = this.reader.next(wantsParts()); r; r = this.reader.next(wantsParts())) {
          const w = this.waiting.shift();
          if (!w) continue;
          if (r.value instanceof VdcError) w.reject(r.value);
          else w.resolve(r.value);
        }
      } catch (err) {
        this.fail(err as Error);
        socket.destroy();
      }
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () =>
      this.fail(new VdcError('ZDB_CONNECTION_CLOSED', 'the zdb server closed the connection')),
    );
  }

  /**
   * Connects to a zdb server over TCP or a unix socket.
   * @throws VdcError PEER_UNREACHABLE
   */
  static connect(opts: ZdbClientOptions): Promise<ZdbClient> {
    return new Promise((resolve, reject) => {
      const socket = opts.path
        ? netConnect(opts.path)
        : netConnect(opts.port ?? 9900, opts.host ?? '127.0.0.1');
      socket.once('error', (err) =>
        reject(
          new VdcError('PEER_UNREACHABLE', `cannot reach zdb: ${err.message}`, { cause: err }),
        ),
      );
      socket.once('connect', () => resolve(new ZdbClient(socket)));
    });
  }

  private fail(err: Error): void {
    this.closedError ??= err;
    for (const w of this.waiting.splice(0)) w.reject(this.closedError);
  }

  /**
   * Sends one command; commands sent in the same tick go out in one write (pipelining).
   * @throws VdcError ZDB_REPLY_ERROR (the server's error text), ZDB_CONNECTION_CLOSED
   */
  command(...args: ZdbArg[]): Promise<ZdbReply> {
    return this.send(args, false) as Promise<ZdbReply>;
  }

  private send(args: readonly ZdbArg[], parts: boolean): Promise<ZdbReply | BulkParts> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject, parts });
      const first = this.queued.length === 0;
      encode(args, this.queued);
      if (first)
        queueMicrotask(() => {
          const data = this.queued;
          this.queued = [];
          // Corked, the writes below leave as one writev; the socket holds the buffers
          // (no copy) until they are sent, and the reply comes after that.
          this.socket.cork();
          for (const b of data) this.socket.write(b);
          this.socket.uncork();
        });
    });
  }

  /** Runs several commands in one write; resolves to each reply or its error. */
  pipeline(commands: ZdbArg[][]): Promise<(ZdbReply | Error)[]> {
    return Promise.all(commands.map((c) => this.command(...c).catch((e: Error) => e)));
  }

  /** SELECT a namespace; with `secure`, proves the password by challenge instead of sending it. */
  async select(ns: string, password?: string, secure = false): Promise<void> {
    if (password === undefined) await this.command('SELECT', ns);
    else if (!secure) await this.command('SELECT', ns, password);
    else {
      const challenge = String(await this.command('AUTH', 'SECURE', 'CHALLENGE'));
      await this.command('SELECT', ns, 'SECURE', secureHash(challenge, password));
    }
  }

  /** SET; a value given as parts is stored as their concatenation, without joining them here. */
  async set(
    key: Buffer | string,
    value: Buffer | string | readonly Uint8Array[],
  ): Promise<Buffer | null> {
    return (await this.command('SET', key, value)) as Buffer | null;
  }

  async get(key: Buffer | string): Promise<Buffer | null> {
    return (await this.command('GET', key)) as Buffer | null;
  }

  /**
   * GET, the value as the pieces it arrived in (views of the received bytes, never joined:
   * one piece when it arrived whole), or null.
   * @throws VdcError ZDB_REPLY_ERROR (the server's error text), ZDB_CONNECTION_CLOSED
   */
  async getParts(key: Buffer | string): Promise<readonly Buffer[] | null> {
    const r = await this.send(['GET', key], true);
    if (r instanceof BulkParts) return r.parts;
    if (r === null) return null;
    throw new VdcError('ZDB_PROTOCOL', `GET answered ${typeof r}, not a bulk string`);
  }

  async del(key: Buffer | string): Promise<void> {
    await this.command('DEL', key);
  }

  async exists(key: Buffer | string): Promise<boolean> {
    return (await this.command('EXISTS', key)) === 1;
  }

  /** One SCAN step: the next cursor and the entries [key, size, timestamp]; null at the end. */
  async scan(
    cursor?: Buffer,
  ): Promise<{ cursor: Buffer; keys: [Buffer, number, number][] } | null> {
    try {
      const r = (await (cursor ? this.command('SCAN', cursor) : this.command('SCAN'))) as [
        Buffer,
        [Buffer, number, number][],
      ];
      return { cursor: r[0], keys: r[1] };
    } catch (err) {
      if (err instanceof VdcError && err.message === 'No more data') return null;
      throw err;
    }
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}
