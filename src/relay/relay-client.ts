import { fail } from '../core/assert.ts';
import { canonicalBytes, type JsonValue } from '../core/canonical-json.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { asVdcError, VdcError } from '../core/errors.ts';
import { jsonLogger, type Logger } from '../core/log.ts';
import type { Identity } from '../identity/index.ts';
import { type Envelope, parseEnvelope } from './envelope.ts';
import { sealEnvelope } from './envelope-crypto.ts';
import { EnvelopeReceiver } from './envelope-receiver.ts';
import { PendingRequests, responseBody } from './pending-requests.ts';
import { openMessage, type ReceivedMessage, type RequestHandler } from './received-message.ts';
import type { SendStatus } from './relay-frames.ts';
import { RelaySet, type RelayStatus } from './relay-set.ts';
import { RequestRoutes } from './request-routes.ts';
import { ResponseCache } from './response-cache.ts';
import { SendQueue } from './send-queue.ts';
import type { TwinDirectory } from './twin-directory.ts';

/*
 * A twin's side of the relay (docs/relay.md): it stays logged in to each of its relays
 * (one, or several), each reconnecting on its own with jittered exponential backoff; it
 * seals, sends and acknowledges envelopes through the first relay that is up (holding
 * sends while none is, each within its own timeout, and sending again on another relay
 * what a dropped one left unanswered); it opens everything it receives, from any relay,
 * through one EnvelopeReceiver, which drops duplicates; and it pairs requests with their
 * responses by `replyTo`, from the twin the request went to and no other.
 */

export interface RelayClientOptions {
  /** The relay to connect to. Give `url`, `urls`, `relaysFromDirectory`, or several of them. */
  url?: string;
  /** Relays to stay logged in to, all at once; sends go through the first one up. */
  urls?: readonly string[];
  /** Also stay logged in to every relay this twin lists in `directory`, following changes. */
  relaysFromDirectory?: boolean;
  /** How often the twin's listed relays are read again; default 30 s. */
  relayRefreshMs?: number;
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

export type { ReceivedMessage, RequestHandler };

const INBOX_LIMIT = 1000;

export class RelayClient {
  readonly twin: number;
  /** The first relay given (or listed); see `urls` for all. */
  readonly url: string;
  readonly #opts: RelayClientOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #receiver: EnvelopeReceiver;
  readonly #relays: RelaySet;
  readonly #sends: SendQueue;
  readonly #requests = new PendingRequests();
  readonly #routes = new RequestRoutes();
  readonly #responses = new ResponseCache();
  readonly #everUp = new Set<string>();
  /** Messages received before onMessage was set (a queued envelope can arrive with the login). */
  readonly #inbox: ReceivedMessage[] = [];
  #handler: RequestHandler | undefined;
  #onMessage: ((msg: ReceivedMessage) => void) | undefined;
  #onRefused: ((err: VdcError) => void) | undefined;
  readonly #send = (envelope: Envelope, timeoutMs: number) => this.#sends.add(envelope, timeoutMs);
  #closed = false;
  #closing: Promise<void> = Promise.resolve();
  readonly counters = {
    received: 0,
    refused: 0,
    reconnects: 0,
    /** Envelopes received a second time (through another relay, or resent): dropped. */
    duplicates: 0,
    /** Requests sent again because the relay that took them dropped. */
    resentRequests: 0,
    /** Responses sent again because their request came again. */
    resentResponses: 0,
  };

  /**
   * Starts connecting at once; `ready()` waits for the first login.
   * @throws VdcError RELAY_CLIENT_NO_RELAYS when given no relay and not told to read them
   * from the ledger
   */
  constructor(opts: RelayClientOptions) {
    this.#opts = opts;
    this.twin = opts.twin;
    const given = [...(opts.url === undefined ? [] : [opts.url]), ...(opts.urls ?? [])];
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
    this.#relays = new RelaySet({
      urls: given,
      fromDirectory: opts.relaysFromDirectory === true,
      refreshMs: opts.relayRefreshMs ?? 30_000,
      identity: opts.identity,
      twin: opts.twin,
      directory: opts.directory,
      ...(opts.reconnect ? { reconnect: opts.reconnect } : {}),
      logger: this.#log,
      onDeliver: (e) => void this.#onDeliver(e),
      onUp: (url) => {
        if (this.#everUp.has(url)) this.counters.reconnects++;
        this.#everUp.add(url);
        this.#sends.flush();
      },
      onDown: (url, link) => {
        if (this.#closed) return; // close() failed every send and request already
        this.#sends.linkDropped(link);
        this.counters.resentRequests += this.#routes.resendVia(url, this.#clock.now(), this.#send);
      },
    });
    this.url = given[0] ?? this.#relays.urls[0] ?? '';
    this.#sends = new SendQueue({
      describe: () => this.#relays.describe(),
      clock: this.#clock,
      max: opts.maxPendingSends ?? 1000,
      // through a relay the recipient lives at, when this client is connected to one
      pick: (to) => this.#relays.pick(this.#recipientRelays(to)),
      unavailable: (when) => this.#unavailable(when),
    });
  }

  #recipientRelays(to: number): readonly string[] {
    try {
      return this.#opts.directory.twin(to)?.relays ?? [];
    } catch {
      return []; // a directory refusing lookups: the first healthy relay decides
    }
  }

  /** Whether logged in to at least one relay. */
  get connected(): boolean {
    return this.#relays.connected;
  }

  /** The relays this client stays logged in to, in the order it prefers them. */
  get urls(): string[] {
    return this.#relays.urls;
  }

  /** Reads the twin's listed relays again now (with `relaysFromDirectory`), without waiting for the timer. */
  refreshRelays(): void {
    this.#relays.refresh();
  }

  /** Each relay: whether it is logged in, how often it reconnected, why it is down. */
  relays(): RelayStatus[] {
    return this.#relays.status();
  }

  /**
   * Resolves once logged in to a relay (with `{all: true}`: to every relay).
   * @throws VdcError RELAY_UNAVAILABLE (with the last connection error) after `timeoutMs`,
   * RELAY_CLIENT_CLOSED
   */
  async ready(timeoutMs = 10_000, opts: { all?: boolean } = {}): Promise<void> {
    if (this.#closed) fail('RELAY_CLIENT_CLOSED', 'this relay client was closed');
    const done = opts.all ? () => this.#relays.allConnected : () => this.#relays.connected;
    const ok = await this.#relays.waitFor(done, timeoutMs);
    if (this.#closed) fail('RELAY_CLIENT_CLOSED', 'this relay client was closed');
    if (!ok) throw this.#unavailable(`within ${timeoutMs} ms`);
  }

  #unavailable(when: string): VdcError {
    const lastError = this.#relays.lastError();
    const last = lastError ? `: ${lastError.code}: ${lastError.message}` : '';
    return new VdcError(
      'RELAY_UNAVAILABLE',
      `not logged in to ${this.#relays.describe()} ${when}${last}`,
      lastError ? { cause: lastError } : undefined,
    );
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
    return this.#sends.add(envelope, timeoutMs).then((sent) => sent.status);
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
      if (this.#closed) fail('RELAY_CLIENT_CLOSED', 'this relay client was closed');
      const now = this.#clock.now();
      await this.#routes.send(envelope, now + timeoutMs, now, this.#send);
    } catch (err) {
      this.#requests.cancel(envelope.id);
      answer.catch(() => {}); // superseded by the send's own error
      throw err;
    }
    try {
      return await answer;
    } finally {
      this.#routes.forget(envelope.id);
    }
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
    let expires: number;
    try {
      ({ msg, expires } = await openMessage(this.#receiver, raw));
    } catch (err) {
      this.counters.refused++;
      const e = asVdcError(err);
      if (e.code === 'ENVELOPE_REPLAYED') this.#onDuplicate(raw);
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
      void this.#answer(msg, expires, this.#handler);
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

  /**
   * An envelope received again. The receiver refuses a replay only after its signature and
   * expiry hold, so the header read here is the sender's own. A request that was answered
   * already gets its response again: the first one may have been lost with a relay.
   */
  #onDuplicate(raw: unknown): void {
    this.counters.duplicates++;
    let envelope: Envelope;
    try {
      envelope = parseEnvelope(raw);
    } catch {
      return; // cannot happen: the receiver parsed it before refusing it as a replay
    }
    if (envelope.kind !== 'request') return;
    const response = this.#responses.get(
      ResponseCache.key(envelope.from, envelope.id),
      this.#clock.now(),
    );
    if (!response || this.#closed) return;
    this.counters.resentResponses++;
    // ENVELOPE_REPLAYED here means the response is still on its way: nothing to do.
    this.sendEnvelope(response).catch(() => {});
  }

  async #answer(msg: ReceivedMessage, expires: number, handler: RequestHandler): Promise<void> {
    let body: JsonValue;
    try {
      body = responseBody({ result: await handler(msg) });
    } catch (error) {
      body = responseBody({ error });
    }
    try {
      const response = this.seal(msg.from, 'response', body, { replyTo: msg.id });
      this.#responses.put(
        ResponseCache.key(msg.from, msg.id),
        response,
        Math.min(expires, response.expires),
      );
      await this.sendEnvelope(response);
    } catch (err) {
      this.#log.log('warn', 'response not sent', {
        to: msg.from,
        replyTo: msg.id,
        code: asVdcError(err).code,
      });
    }
  }

  /** Closes the connections; pending sends and requests fail with RELAY_CLIENT_CLOSED. */
  async close(): Promise<void> {
    if (this.#closed) return this.#closing;
    this.#closed = true;
    const err = new VdcError('RELAY_CLIENT_CLOSED', 'this relay client was closed');
    this.#sends.failAll(err);
    this.#requests.failAll(err);
    this.#closing = (async () => {
      await this.#relays.close();
      await this.#receiver.close();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
