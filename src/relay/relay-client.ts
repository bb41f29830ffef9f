import { setTimeout as sleep } from 'node:timers/promises';
import { fail } from '../core/assert.ts';
import { canonicalBytes, type JsonValue } from '../core/canonical-json.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { asVdcError, VdcError } from '../core/errors.ts';
import { jsonLogger, type Logger } from '../core/log.ts';
import { parseJson } from '../core/strict-json.ts';
import type { Identity } from '../identity/index.ts';
import type { Envelope } from './envelope.ts';
import { sealEnvelope } from './envelope-crypto.ts';
import { EnvelopeReceiver } from './envelope-receiver.ts';
import { PendingRequests, responseBody } from './pending-requests.ts';
import type { SendStatus } from './relay-frames.ts';
import { RelayLink } from './relay-link.ts';
import { SendQueue } from './send-queue.ts';
import type { TwinDirectory } from './twin-directory.ts';

/*
 * A twin's side of the relay (docs/relay.md): it keeps one logged-in connection open,
 * reconnecting with jittered exponential backoff; it seals, sends and acknowledges
 * envelopes (holding sends while it reconnects, each within its own timeout); it opens
 * everything it receives through an EnvelopeReceiver; and it pairs requests with their
 * responses by `replyTo`, from the twin the request went to and no other.
 */

export interface RelayClientOptions {
  url: string;
  identity: Identity;
  twin: number;
  directory: TwinDirectory;
  /** Where the receiver keeps the ids it accepted, across restarts. */
  dataDir: string;
  clock?: Clock;
  logger?: Logger;
  /** Lifetime given to envelopes this client seals; default 60 s. */
  envelopeTtlMs?: number;
  sendTimeoutMs?: number;
  requestTimeoutMs?: number;
  reconnect?: { minDelayMs?: number; maxDelayMs?: number };
  /** Sends held at once while disconnected or unacknowledged; default 1000. */
  maxPendingSends?: number;
  maxLifetimeMs?: number;
  skewMs?: number;
}

export interface ReceivedMessage {
  id: string;
  from: number;
  kind: string;
  replyTo: string | null;
  body: JsonValue;
}

export type RequestHandler = (msg: ReceivedMessage) => Promise<JsonValue> | JsonValue;

const INBOX_LIMIT = 1000;

export class RelayClient {
  readonly twin: number;
  readonly url: string;
  readonly #opts: RelayClientOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #receiver: EnvelopeReceiver;
  readonly #sends: SendQueue;
  readonly #requests = new PendingRequests();
  /** Messages received before onMessage was set (a queued envelope can arrive with the login). */
  readonly #inbox: ReceivedMessage[] = [];
  readonly #readyWaiters = new Set<() => void>();
  readonly #abort = new AbortController();
  #link: RelayLink | undefined;
  #lastError: VdcError | undefined;
  #handler: RequestHandler | undefined;
  #onMessage: ((msg: ReceivedMessage) => void) | undefined;
  #onRefused: ((err: VdcError) => void) | undefined;
  #closed = false;
  #loop: Promise<void>;
  readonly counters = { received: 0, refused: 0, reconnects: 0 };

  /** Starts connecting at once; `ready()` waits for the first login. */
  constructor(opts: RelayClientOptions) {
    this.#opts = opts;
    this.twin = opts.twin;
    this.url = opts.url;
    this.#clock = opts.clock ?? systemClock;
    this.#log =
      opts.logger ?? jsonLogger(undefined, { program: 'relay-client', twin: opts.twin }, 'warn');
    this.#receiver = new EnvelopeReceiver({
      identity: opts.identity,
      twin: opts.twin,
      directory: opts.directory,
      dataDir: opts.dataDir,
      clock: this.#clock,
      ...(opts.maxLifetimeMs === undefined ? {} : { maxLifetimeMs: opts.maxLifetimeMs }),
      ...(opts.skewMs === undefined ? {} : { skewMs: opts.skewMs }),
    });
    this.#sends = new SendQueue({
      url: opts.url,
      clock: this.#clock,
      max: opts.maxPendingSends ?? 1000,
      connected: () => this.connected,
      unavailable: (when) => this.#unavailable(when),
    });
    this.#loop = this.#connectLoop();
  }

  get connected(): boolean {
    return this.#link?.isOpen === true;
  }

  /**
   * Resolves once logged in to the relay.
   * @throws VdcError RELAY_UNAVAILABLE (with the last connection error) after `timeoutMs`
   */
  async ready(timeoutMs = 10_000): Promise<void> {
    if (this.connected) return;
    if (this.#closed) fail('RELAY_CLIENT_CLOSED', 'this relay client was closed');
    let done: () => void = () => {};
    let timer: NodeJS.Timeout | undefined;
    const ok = new Promise<void>((resolve) => {
      done = resolve;
      this.#readyWaiters.add(resolve);
    });
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.#unavailable(`within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([ok, late]);
    } finally {
      clearTimeout(timer);
      this.#readyWaiters.delete(done);
    }
  }

  #unavailable(when: string): VdcError {
    const last = this.#lastError ? `: ${this.#lastError.code}: ${this.#lastError.message}` : '';
    return new VdcError(
      'RELAY_UNAVAILABLE',
      `not logged in to relay ${this.url} ${when}${last}`,
      this.#lastError ? { cause: this.#lastError } : undefined,
    );
  }

  async #connectLoop(): Promise<void> {
    const min = this.#opts.reconnect?.minDelayMs ?? 100;
    const max = this.#opts.reconnect?.maxDelayMs ?? 10_000;
    let attempt = 0;
    while (!this.#closed) {
      let dropped: Promise<void> | undefined;
      try {
        let onDrop: () => void = () => {};
        dropped = new Promise<void>((resolve) => {
          onDrop = resolve;
        });
        const link = await RelayLink.connect({
          url: this.url,
          identity: this.#opts.identity,
          twin: this.twin,
          ledger: this.#opts.directory.ledger,
          onDeliver: (e) => void this.#onDeliver(e),
          onClose: (err) => {
            this.#lastError = err;
            onDrop();
          },
        });
        if (this.#closed) {
          link.close();
          return;
        }
        this.#link = link;
        if (attempt > 0) this.counters.reconnects++;
        attempt = 0;
        this.#lastError = undefined;
        for (const resolve of this.#readyWaiters) resolve();
        this.#sends.flush(link);
        await dropped;
        this.#link = undefined;
        this.#sends.linkDropped();
      } catch (err) {
        this.#lastError = asVdcError(err);
        this.#log.log('info', 'relay connection failed', {
          url: this.url,
          code: this.#lastError.code,
        });
      }
      if (this.#closed) return;
      // Jittered exponential backoff, so a relay restarting is not stampeded by its twins.
      const delay = Math.min(max, min * 2 ** Math.min(attempt, 16)) * (0.5 + Math.random() / 2);
      attempt++;
      try {
        await sleep(delay, undefined, { signal: this.#abort.signal });
      } catch {
        return; // aborted by close()
      }
    }
  }

  /**
   * Seals `body` to twin `to` and hands it to the relay, waiting while reconnecting.
   * @throws VdcError ENVELOPE_RECIPIENT_UNKNOWN, ENVELOPE_TOO_LARGE, RELAY_SEND_QUEUE_FULL,
   * RELAY_SEND_TIMEOUT, RELAY_UNAVAILABLE, RELAY_CLIENT_CLOSED, or the relay's refusal
   */
  async send(
    to: number,
    kind: string,
    body: JsonValue,
    opts: { replyTo?: string | null; ttlMs?: number; timeoutMs?: number } = {},
  ): Promise<{ id: string; status: SendStatus }> {
    const envelope = this.seal(to, kind, body, opts);
    const status = await this.sendEnvelope(envelope, opts.timeoutMs);
    return { id: envelope.id, status };
  }

  /** Seals an envelope from this twin without sending it. */
  seal(
    to: number,
    kind: string,
    body: JsonValue,
    opts: { replyTo?: string | null; ttlMs?: number } = {},
  ): Envelope {
    if (this.#closed) fail('RELAY_CLIENT_CLOSED', 'this relay client was closed');
    const recipient = this.#opts.directory.twin(to);
    if (!recipient)
      fail('ENVELOPE_RECIPIENT_UNKNOWN', `twin ${to} is not on the ledger: check the twin id`);
    return sealEnvelope({
      sender: this.#opts.identity,
      from: this.twin,
      to: recipient,
      kind,
      payload: canonicalBytes(body),
      expires: this.#clock.now() + (opts.ttlMs ?? this.#opts.envelopeTtlMs ?? 60_000),
      replyTo: opts.replyTo ?? null,
    });
  }

  /** Sends an envelope already sealed (by this client's `seal`). */
  sendEnvelope(
    envelope: Envelope,
    timeoutMs = this.#opts.sendTimeoutMs ?? 10_000,
  ): Promise<SendStatus> {
    if (this.#closed)
      return Promise.reject(new VdcError('RELAY_CLIENT_CLOSED', 'this relay client was closed'));
    return this.#sends.add(envelope, timeoutMs, this.#link);
  }

  /**
   * Sends a request and waits for the response bound to it by `replyTo`.
   * @throws VdcError RELAY_REQUEST_TIMEOUT, the send's errors, or the responder's error
   */
  async request(
    to: number,
    body: JsonValue,
    opts: { kind?: string; timeoutMs?: number } = {},
  ): Promise<JsonValue> {
    const timeoutMs = opts.timeoutMs ?? this.#opts.requestTimeoutMs ?? 10_000;
    const envelope = this.seal(to, opts.kind ?? 'request', body, {
      ttlMs: Math.max(timeoutMs, 1000),
    });
    const answer = this.#requests.expect(envelope.id, to, timeoutMs);
    try {
      await this.sendEnvelope(envelope, timeoutMs);
    } catch (err) {
      this.#requests.cancel(envelope.id);
      answer.catch(() => {}); // superseded by the send's own error
      throw err;
    }
    return answer;
  }

  /** Answers `request` envelopes: the handler's result, or its error, goes back as the response. */
  handle(handler: RequestHandler): void {
    this.#handler = handler;
  }

  /**
   * Receives envelopes that are neither requests (with a handler) nor awaited responses,
   * starting with those that arrived before it was set.
   */
  onMessage(fn: (msg: ReceivedMessage) => void): void {
    this.#onMessage = fn;
    for (const msg of this.#inbox.splice(0)) fn(msg);
  }

  /** Called with the error of every envelope this client refused (for logs and tests). */
  onRefused(fn: (err: VdcError) => void): void {
    this.#onRefused = fn;
  }

  async #onDeliver(raw: unknown): Promise<void> {
    let msg: ReceivedMessage;
    try {
      const { envelope, payload } = await this.#receiver.open(raw);
      let body: JsonValue;
      try {
        body = parseJson(payload);
      } catch (cause) {
        throw new VdcError(
          'ENVELOPE_MALFORMED',
          `envelope ${envelope.id}: its payload is not strict JSON`,
          { cause },
        );
      }
      msg = {
        id: envelope.id,
        from: envelope.from,
        kind: envelope.kind,
        replyTo: envelope.replyTo,
        body,
      };
    } catch (err) {
      this.counters.refused++;
      const e = asVdcError(err);
      this.#log.log('warn', 'envelope refused', { code: e.code, reason: e.message });
      this.#onRefused?.(e);
      return;
    }
    this.counters.received++;
    if (msg.kind === 'response') {
      const matched = this.#requests.match(msg.replyTo, msg.from, msg.body);
      if (matched === 'settled') return;
      if (matched === 'wrong-sender') {
        // Only the twin asked may answer: anyone else naming the request id is refused.
        this.counters.refused++;
        this.#onRefused?.(
          new VdcError(
            'ENVELOPE_WRONG_RECIPIENT',
            `twin ${msg.from} answered request ${msg.replyTo}, which went to another twin`,
          ),
        );
        return;
      }
    }
    if (msg.kind === 'request' && this.#handler) {
      void this.#answer(msg, this.#handler);
      return;
    }
    if (this.#onMessage) this.#onMessage(msg);
    else if (this.#inbox.length < INBOX_LIMIT) this.#inbox.push(msg);
    else
      this.#log.log('warn', 'message dropped: no onMessage handler and the inbox is full', {
        id: msg.id,
        from: msg.from,
      });
  }

  async #answer(msg: ReceivedMessage, handler: RequestHandler): Promise<void> {
    let body: JsonValue;
    try {
      body = responseBody({ result: await handler(msg) });
    } catch (error) {
      body = responseBody({ error });
    }
    try {
      await this.send(msg.from, 'response', body, { replyTo: msg.id });
    } catch (err) {
      this.#log.log('warn', 'response not sent', {
        to: msg.from,
        replyTo: msg.id,
        code: asVdcError(err).code,
      });
    }
  }

  /** Closes the connection; pending sends and requests fail with RELAY_CLIENT_CLOSED. */
  async close(): Promise<void> {
    if (this.#closed) return this.#loop;
    this.#closed = true;
    this.#abort.abort();
    const err = new VdcError('RELAY_CLIENT_CLOSED', 'this relay client was closed');
    this.#sends.failAll(err);
    this.#requests.failAll(err);
    this.#link?.close();
    await this.#loop;
    await this.#receiver.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
