import { fail } from '../core/assert.ts';
import { asVdcError, VdcError } from '../core/errors.ts';
import { ZdbClient } from '../zdb/index.ts';
import type { ShardBackend } from './shard-backend.ts';

/*
 * A ShardBackend over one zdb (or 0-db) namespace. The password is only ever proven with
 * `AUTH SECURE CHALLENGE` then `SELECT ns SECURE sha1(challenge:password)`, never sent, so
 * someone watching the connection learns nothing reusable. The connection is opened on
 * first use and again after it breaks (a zdb restarted or came back): a call that finds
 * its connection dead retries once on a fresh one, then reports the backend unavailable,
 * naming it and its node, so a later call (or repair) can use it again.
 */

export interface ZdbBackendOptions {
  /** "HOST:PORT"; IPv6 as "[::1]:9900". */
  readonly address: string;
  readonly namespace: string;
  readonly password: string;
  readonly node: string;
  readonly farm?: string | undefined;
  /** A call (connecting included) that takes longer fails as unavailable; default 30 s. */
  readonly timeoutMs?: number;
}

/** Splits "HOST:PORT" / "[V6]:PORT". @throws VdcError ZSTOR_CONFIG_INVALID */
export function parseAddress(address: string, label = 'address'): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(address);
  const port = m === null ? Number.NaN : Number(m[3]);
  if (m === null || port < 1 || port > 65535)
    fail(
      'ZSTOR_CONFIG_INVALID',
      `'${label}' must be HOST:PORT (IPv6 as [ADDR]:PORT, port 1..65535), got ${JSON.stringify(address)}`,
    );
  return { host: m[1] ?? m[2]!, port };
}

/** Whether an error means the connection (not the command) failed. */
function isConnectionError(err: unknown): boolean {
  return (
    !(err instanceof VdcError) ||
    err.code === 'ZDB_CONNECTION_CLOSED' ||
    err.code === 'PEER_UNREACHABLE' ||
    err.code === 'ZDB_PROTOCOL'
  );
}

export class ZdbShardBackend implements ShardBackend {
  readonly id: string;
  readonly node: string;
  readonly farm: string | undefined;
  readonly #host: string;
  readonly #port: number;
  readonly #namespace: string;
  readonly #password: string;
  readonly #timeoutMs: number;
  #client: Promise<ZdbClient> | undefined;
  #closed = false;

  constructor(options: ZdbBackendOptions) {
    const { host, port } = parseAddress(options.address);
    this.#host = host;
    this.#port = port;
    this.#namespace = options.namespace;
    this.#password = options.password;
    this.id = `${options.address}/${options.namespace}`;
    this.node = options.node;
    this.farm = options.farm;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  get #where(): string {
    return `backend ${this.id} (node ${this.node})`;
  }

  #connect(): Promise<ZdbClient> {
    if (this.#closed) fail('ZSTOR_BACKEND_UNAVAILABLE', `${this.#where} was closed`);
    this.#client ??= (async () => {
      const client = await ZdbClient.connect({ host: this.#host, port: this.#port });
      try {
        await client.select(this.#namespace, this.#password, true);
      } catch (err) {
        client.close();
        if (err instanceof VdcError && err.code === 'ZDB_REPLY_ERROR')
          fail(
            'ZSTOR_BACKEND_REFUSED',
            `${this.#where} refused namespace ${JSON.stringify(this.#namespace)}: ${err.message}; check the namespace and its password in the config`,
            err,
          );
        throw err;
      }
      return client;
    })();
    const pending = this.#client;
    pending.catch(() => {
      if (this.#client === pending) this.#client = undefined;
    });
    return pending;
  }

  /** Runs `fn` on a live connection, retrying once on a fresh one if the old one broke. */
  async #run<T>(what: string, fn: (c: ZdbClient) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let client: ZdbClient | undefined;
      let timer: NodeJS.Timeout | undefined;
      try {
        // A zdb that accepts but never answers must not hang the store: on timeout the
        // connection is dropped, which fails the call as a dead connection would.
        const expired = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            if (this.#client !== undefined)
              void this.#client.then(
                (c) => c.close(),
                () => {},
              );
            this.#client = undefined;
            reject(new VdcError('ZDB_CONNECTION_CLOSED', `no answer within ${this.#timeoutMs} ms`));
          }, this.#timeoutMs);
        });
        expired.catch(() => {});
        client = await Promise.race([this.#connect(), expired]);
        return await Promise.race([fn(client), expired]);
      } catch (err) {
        if (err instanceof VdcError && err.code === 'ZSTOR_BACKEND_REFUSED') throw err;
        if (!isConnectionError(err)) throw err;
        if (client !== undefined && this.#client !== undefined) {
          const dead = this.#client;
          this.#client = undefined;
          void dead.then((c) => c.close()).catch(() => {});
        }
        if (attempt >= 1 || client === undefined)
          fail(
            'ZSTOR_BACKEND_UNAVAILABLE',
            `${this.#where} does not answer (${what}): ${asVdcError(err).message}`,
            err,
          );
      } finally {
        clearTimeout(timer);
      }
    }
  }

  async put(key: Uint8Array, parts: readonly Uint8Array[]): Promise<void> {
    try {
      // The parts go to the socket as they are (no joined copy of the shard).
      await this.#run('SET', (c) => c.set(Buffer.from(key), parts));
    } catch (err) {
      // e.g. "No space left on this namespace": the shard goes elsewhere, or to repair.
      if (err instanceof VdcError && err.code === 'ZDB_REPLY_ERROR')
        fail('ZSTOR_BACKEND_UNAVAILABLE', `${this.#where} refused the shard: ${err.message}`, err);
      throw err;
    }
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    try {
      const v = await this.#run('GET', (c) => c.get(Buffer.from(key)));
      return v ?? undefined;
    } catch (err) {
      throw this.#readError(err);
    }
  }

  /** GET without joining what arrived: views of the received bytes (see ZdbClient.getParts). */
  async getParts(key: Uint8Array): Promise<readonly Uint8Array[] | undefined> {
    try {
      const v = await this.#run('GET', (c) => c.getParts(Buffer.from(key)));
      return v ?? undefined;
    } catch (err) {
      throw this.#readError(err);
    }
  }

  /** What a failed GET means: zdb answers an error (not nil) for a value whose CRC fails on its disk. */
  #readError(err: unknown): unknown {
    if (err instanceof VdcError && err.code === 'ZDB_REPLY_ERROR')
      return new VdcError(
        'ZSTOR_SHARD_CORRUPT',
        `${this.#where} cannot serve the shard: zdb answered "${err.message}" (its copy is damaged)`,
        { cause: err },
      );
    return err;
  }

  async delete(key: Uint8Array): Promise<boolean> {
    try {
      await this.#run('DEL', (c) => c.del(Buffer.from(key)));
      return true;
    } catch (err) {
      if (err instanceof VdcError && err.code === 'ZDB_REPLY_ERROR') return false;
      throw err;
    }
  }

  async exists(key: Uint8Array): Promise<boolean> {
    return this.#run('EXISTS', (c) => c.exists(Buffer.from(key)));
  }

  /** Every key in the namespace, by SCAN (128 per round trip). */
  async *keys(): AsyncIterable<Uint8Array> {
    let cursor: Buffer | undefined;
    for (;;) {
      const at = cursor;
      const step = await this.#run('SCAN', (c) => c.scan(at));
      if (step === null) return;
      for (const [key] of step.keys) yield key;
      cursor = step.cursor;
    }
  }

  /** Closes the connection; further calls fail. */
  close(): void {
    this.#closed = true;
    const c = this.#client;
    this.#client = undefined;
    void c?.then((client) => client.close()).catch(() => {});
  }
}
