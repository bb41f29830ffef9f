import type { Socket } from 'node:net';
import type { Logger } from '../core/log.ts';
import { dispatch, valueMayStaySplit } from './command-table.ts';
import type { Call, ClientState, ServerContext, WaitRequest } from './command-types.ts';
import type { Namespace } from './namespace-registry.ts';
import { RespParser, RespProtocolError, type SplitArg } from './resp-parser.ts';
import { error, status } from './resp-reply.ts';

/*
 * One client connection. Each received chunk is parsed and every complete request in it is
 * executed in order; the namespaces written to are flushed (and fsynced with --sync) once,
 * and only then are the batch's replies sent, in one write. A protocol error is answered
 * with 0-db's text and the connection is closed, as 0-db does.
 */

const CANNOT_WRITE = error('Cannot write data right now');
/**
 * Replies held for one connection before it stops running requests until they are sent: a
 * client that pipelines GETs of 8 MiB values and never reads cannot make the server hold
 * gigabytes (the rest of its requests wait, and its socket stops being read).
 */
export const MAX_PENDING_REPLY_BYTES = 64 * 1024 * 1024;
const NS_GONE = error('Your active namespace is not available anymore (probably removed).');

/** Replies at least this long are written as they are; shorter ones are joined (one copy). */
const BIG_REPLY = 32 * 1024;

/**
 * Writes a batch's replies as one writev: runs of small replies joined, big ones (values)
 * passed by reference, so a GET's value is never copied here. Returns socket.write's verdict.
 */
function writeReplies(socket: Socket, out: readonly Buffer[]): boolean {
  if (out.length === 1) return socket.write(out[0]!);
  let ok = true;
  let run: Buffer[] = [];
  const flushRun = () => {
    if (run.length > 0) ok = socket.write(run.length === 1 ? run[0]! : Buffer.concat(run)) && ok;
    run = [];
  };
  socket.cork();
  for (const b of out) {
    if (b.length < BIG_REPLY) run.push(b);
    else {
      flushRun();
      ok = socket.write(b) && ok;
    }
  }
  flushRun();
  socket.uncork();
  return ok;
}

interface PendingWrite {
  at: number;
  ns: Namespace;
  epoch: number;
}

export interface ConnectionHost {
  context: ServerContext;
  log: Logger;
  /** Queues the connection for the next group commit (flush, then send()). */
  defer(conn: Connection): void;
  /** Tells waiting clients that `name` ran in `ns`. */
  notify(from: Connection, ns: Namespace, name: string): void;
  remove(conn: Connection): void;
}

export class Connection {
  readonly client: ClientState;
  private readonly socket: Socket;
  private readonly host: ConnectionHost;
  private readonly parser = new RespParser(valueMayStaySplit);
  private out: Buffer[] = [];
  private writes: PendingWrite[] = [];
  private ran: { ns: Namespace; name: string }[] = [];
  private closing = false;
  private deferred = false;
  private pendingBytes = 0;
  private saturated = false;
  private waiting: { request: WaitRequest; timer: NodeJS.Timeout } | undefined;
  private queued: { args: Buffer[]; split: SplitArg | undefined }[] = [];
  private backlog: Buffer[] = [];

  constructor(socket: Socket, host: ConnectionHost, client: ClientState) {
    this.socket = socket;
    this.host = host;
    this.client = client;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      if (this.waiting || this.deferred) return;
      if (this.queued.length > 0 || this.backlog.length > 0) this.resumeHeld();
      else socket.resume();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (this.waiting) clearTimeout(this.waiting.timer);
      host.remove(this);
    });
  }

  /** The namespace this client waits on and the command it waits for. */
  waitsFor(ns: Namespace, name: string): boolean {
    if (!this.waiting || this.client.ns !== ns) return false;
    return this.waiting.request.wait === '*' || this.waiting.request.wait === name;
  }

  private onData(chunk: Buffer): void {
    this.host.context.stats.rxBytes += chunk.length;
    if (this.closing) return;
    if (this.waiting || this.saturated || this.queued.length > 0) {
      this.backlog.push(chunk);
      this.socket.pause();
      return;
    }
    this.batch(() => this.feed(chunk));
  }

  private feed(chunk: Buffer): void {
    try {
      this.parser.feed(chunk, (args, split) => this.execute(args, split));
    } catch (err) {
      if (err instanceof RespProtocolError) this.out.push(error(err.message));
      else {
        this.host.log.log('error', 'request failed', { err });
        this.out.push(error('Internal Error'));
      }
      this.closing = true;
    }
  }

  private execute(args: Buffer[], split: SplitArg | undefined): void {
    if (this.closing) return;
    if (this.waiting || this.saturated) {
      // Small arguments are copied so that they do not pin whole received chunks; a split
      // value's pieces are views of chunks that nothing writes again, kept as they are.
      this.queued.push({ args: args.map((a) => Buffer.from(a)), split });
      return;
    }
    const ctx = this.host.context;
    const ns = this.client.ns;
    if (!ns) {
      this.out.push(NS_GONE);
      this.closing = true;
      return;
    }
    const call: Call = { client: this.client, args, server: ctx };
    if (split !== undefined) {
      if (split.index === 2) call.valueParts = split.parts;
      else args[split.index] = Buffer.concat(split.parts); // not expected: only SET values split
    }
    let result: ReturnType<typeof dispatch>;
    try {
      result = dispatch(call);
    } catch (err) {
      this.host.log.log('error', 'command failed', { err });
      result = { reply: error('Internal Error'), name: undefined };
    }
    if (result.name === undefined) ctx.stats.commandsFailed++;
    else ctx.stats.commandsExecuted++;
    const reply = result.reply;
    if (!Buffer.isBuffer(reply)) {
      this.startWait(reply);
      return;
    }
    if (call.wrote)
      this.writes.push({ at: this.out.length, ns: call.wrote, epoch: call.wrote.store.epoch });
    this.out.push(reply);
    this.pendingBytes += reply.length;
    if (this.pendingBytes > MAX_PENDING_REPLY_BYTES) this.saturated = true;
    if (result.name) this.ran.push({ ns, name: result.name });
  }

  private batch(work: () => void): void {
    work();
    this.finish();
  }

  /**
   * Ends a batch. Replies that follow a write wait for the group commit: the server flushes
   * every namespace once for all connections served in this turn of the event loop, then
   * calls send() on each (so 50 clients writing cost one write per file, not 50).
   */
  private finish(): void {
    if (this.writes.length > 0 || this.deferred) {
      if (!this.deferred) {
        this.deferred = true;
        this.host.defer(this);
      }
      return;
    }
    this.send();
  }

  /** Sends the replies gathered so far; called after the group commit when writes were made. */
  send(): void {
    this.deferred = false;
    for (const w of this.writes) if (w.ns.store.epoch !== w.epoch) this.out[w.at] = CANNOT_WRITE;
    const ctx = this.host.context;
    if (this.out.length > 0) {
      for (const b of this.out) ctx.stats.txBytes += b.length;
      if (!this.socket.destroyed && !writeReplies(this.socket, this.out)) this.socket.pause();
    }
    this.out = [];
    this.writes = [];
    this.pendingBytes = 0;
    const ran = this.ran;
    this.ran = [];
    for (const r of ran) this.host.notify(this, r.ns, r.name);
    if (this.closing) {
      this.socket.end();
      return;
    }
    if (this.saturated) {
      this.saturated = false;
      this.socket.pause();
      // run what waited once the client has taken these replies
      if (!this.socket.writableNeedDrain) setImmediate(() => this.resumeHeld());
    }
  }

  /** Runs the requests and bytes that waited (behind a WAIT or unsent replies). */
  private resumeHeld(): void {
    if (this.waiting || this.saturated || this.closing || this.socket.destroyed) return;
    const queued = this.queued;
    this.queued = [];
    const backlog = this.backlog;
    this.backlog = [];
    this.batch(() => {
      for (const q of queued) this.execute(q.args, q.split);
      for (const chunk of backlog) if (!this.closing) this.feed(chunk);
    });
    if (!this.waiting && !this.saturated && !this.closing && this.queued.length === 0)
      this.socket.resume();
  }

  private startWait(request: WaitRequest): void {
    const timer = setTimeout(() => this.endWait(error('Timeout')), request.timeoutMs);
    this.waiting = { request, timer };
  }

  /** Ends a WAIT with `reply`, then runs what arrived meanwhile. */
  endWait(reply: Buffer): void {
    if (!this.waiting) return;
    clearTimeout(this.waiting.timer);
    this.waiting = undefined;
    this.out.push(reply);
    this.pendingBytes += reply.length;
    if (this.queued.length === 0 && this.backlog.length === 0) {
      this.finish();
      if (!this.closing) this.socket.resume();
    } else this.resumeHeld();
  }

  triggered(name: string): void {
    this.endWait(status(name));
  }

  destroy(): void {
    this.socket.destroy();
  }
}
