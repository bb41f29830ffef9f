import { type ClientHttp2Session, type ClientHttp2Stream, constants } from 'node:http2';
import type { SecureContext } from 'node:tls';
import { fail } from '../core/assert.ts';
import { VdcError } from '../core/errors.ts';
import type { TunnelAuthority, TunnelHello } from './tunnel-auth.ts';
import type { BackendTls } from './tunnel-tls.ts';
import {
  Upstream,
  type UpstreamAnswer,
  type UpstreamExchange,
  type UpstreamRequest,
} from './upstream.ts';

/*
 * The tunnels connected for each name. A request takes the next live tunnel in turn
 * (round robin); a tunnel whose HTTP/2 session closes, errors or receives GOAWAY is dropped
 * at once, so no request is sent to a backend known to be gone.
 */

export interface Backend {
  id: number;
  session: ClientHttp2Session;
  authority: TunnelAuthority;
  hello: TunnelHello;
  exporter: Buffer;
  remote: string;
  /** the owner's certificate this tunnel presented (http mode over TLS) */
  tls?: BackendTls;
  /** http mode: kept-alive HTTP/1.1 connections to the target, each a CONNECT stream */
  upstream?: Upstream;
}

export class BackendPool {
  readonly #byName = new Map<string, Backend[]>();
  readonly #next = new Map<string, number>();
  #ids = 0;

  add(entry: Omit<Backend, 'id'>, onDrop?: (b: Backend, why: string) => void): Backend {
    const backend: Backend = { ...entry, id: ++this.#ids };
    const list = this.#byName.get(backend.authority.name) ?? [];
    list.push(backend);
    this.#byName.set(backend.authority.name, list);
    let dropped = false;
    const drop = (why: string) => {
      if (dropped) return;
      dropped = true;
      this.#remove(backend);
      onDrop?.(backend, why);
    };
    backend.session.once('close', () => drop('closed'));
    backend.session.once('goaway', () => drop('goaway'));
    backend.session.on('error', (err) => drop(`error: ${err.message}`));
    return backend;
  }

  #remove(backend: Backend): void {
    backend.upstream?.close();
    const list = this.#byName.get(backend.authority.name);
    if (!list) return;
    const rest = list.filter((b) => b !== backend);
    if (rest.length === 0) this.#byName.delete(backend.authority.name);
    else this.#byName.set(backend.authority.name, rest);
    if (!backend.session.destroyed) backend.session.destroy();
  }

  /** Every connected tunnel, for the re-check at each ledger head. */
  all(): Backend[] {
    return [...this.#byName.values()].flat();
  }

  count(name: string): number {
    return this.#byName.get(name)?.length ?? 0;
  }

  /** Closes one tunnel (e.g. its authority lapsed). */
  close(backend: Backend): void {
    this.#remove(backend);
  }

  closeAll(): void {
    for (const b of this.all()) this.#remove(b);
  }

  /**
   * The TLS context to serve `name` with: from a live tunnel that presented the certificate
   * `pin` (the one the name contract pins now); undefined when none did.
   */
  tlsContext(name: string, pin: string): SecureContext | undefined {
    for (const b of this.#byName.get(name) ?? [])
      if (b.tls?.certSha256 === pin && !b.session.destroyed && !b.session.closed)
        return b.tls.context;
    return undefined;
  }

  #pick(name: string): Backend | undefined {
    const list = this.#byName.get(name);
    if (!list || list.length === 0) return undefined;
    for (let tries = 0; tries < list.length; tries++) {
      const i = (this.#next.get(name) ?? 0) % list.length;
      this.#next.set(name, i + 1);
      const b = list[i]!;
      if (!b.session.destroyed && !b.session.closed) return b;
    }
    return undefined;
  }

  /**
   * Opens a raw byte stream (HTTP/2 CONNECT, RFC 9113 §8.5) to the backend's target through
   * the next live tunnel for `name`, resolving once the backend has connected its target.
   * @throws VdcError TUNNEL_UNAVAILABLE when no tunnel is connected or the backend refuses
   */
  open(name: string): Promise<ClientHttp2Stream> {
    const backend = this.#pick(name);
    if (!backend)
      return Promise.reject(
        new VdcError('TUNNEL_UNAVAILABLE', `no tunnel is connected for ${name}: start its backend`),
      );
    return this.#connect(backend, name);
  }

  /**
   * Sends one HTTP/1.1 request to `name`'s target through the next live tunnel, over a
   * kept-alive CONNECT stream of that tunnel (http mode).
   * @throws VdcError TUNNEL_UNAVAILABLE when no tunnel is connected
   */
  exchange(name: string, request: UpstreamRequest, answer: UpstreamAnswer): UpstreamExchange {
    const backend = this.#pick(name);
    if (!backend)
      fail('TUNNEL_UNAVAILABLE', `no tunnel is connected for ${name}: start its backend`);
    return this.#upstream(backend, name).exchange(request, answer);
  }

  #upstream(backend: Backend, name: string): Upstream {
    backend.upstream ??= new Upstream(() => this.#connect(backend, name), {
      retryVia: () => {
        const next = this.#pick(name);
        return next && this.#upstream(next, name);
      },
    });
    return backend.upstream;
  }

  #connect(backend: Backend, name: string): Promise<ClientHttp2Stream> {
    return new Promise((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = backend.session.request(
          {
            [constants.HTTP2_HEADER_METHOD]: 'CONNECT',
            [constants.HTTP2_HEADER_AUTHORITY]: `${name}:0`,
          },
          { endStream: false },
        );
      } catch (cause) {
        return reject(
          new VdcError('TUNNEL_UNAVAILABLE', `the tunnel for ${name} is closing`, { cause }),
        );
      }
      const onError = (cause: Error) =>
        reject(
          new VdcError('TUNNEL_UNAVAILABLE', `the tunnel for ${name} failed: ${cause.message}`, {
            cause,
          }),
        );
      stream.once('error', onError);
      stream.once('close', () => onError(new Error('stream closed before the backend answered')));
      stream.once('response', (headers) => {
        stream.off('error', onError);
        stream.removeAllListeners('close');
        if (Number(headers[constants.HTTP2_HEADER_STATUS]) !== 200) {
          stream.destroy();
          return reject(
            new VdcError(
              'TUNNEL_UNAVAILABLE',
              `the backend of ${name} could not reach its target (status ${headers[':status']})`,
            ),
          );
        }
        // Node 24's Http2Stream writev corrupts the first chunk when a string head is
        // batched with a body chunk (writes made while one is pending are): one at a time.
        (stream as unknown as { _writev: unknown })._writev = null;
        resolve(stream);
      });
    });
  }
}
