import { fail } from '../core/assert.ts';
import type { ShardBackend } from './shard-backend.ts';

/**
 * An in-memory backend for unit tests of the pipeline, placement and metadata, where a real
 * zdb is not the point. It can be taken down (every call fails as a dead zdb would) and its
 * stored bytes can be read and altered, to play a failing or malicious backend.
 */
export class FakeShardBackend implements ShardBackend {
  readonly id: string;
  readonly node: string;
  readonly farm: string | undefined;
  readonly values = new Map<string, Buffer>();
  down = false;
  puts = 0;
  /** Hex keys of every get, in order: tests count what a read fetched. */
  readonly gotKeys: string[] = [];
  /** Set by servePieces(): values are then also served in pieces, as zdb's are. */
  getParts?: (key: Uint8Array) => Promise<readonly Uint8Array[] | undefined>;

  constructor(id: string, node: string, farm?: string) {
    this.id = id;
    this.node = node;
    this.farm = farm;
  }

  #check(): void {
    if (this.down)
      fail('ZSTOR_BACKEND_UNAVAILABLE', `backend ${this.id} (node ${this.node}) does not answer`);
  }

  async put(key: Uint8Array, parts: readonly Uint8Array[]): Promise<void> {
    this.#check();
    this.puts++;
    this.values.set(Buffer.from(key).toString('hex'), Buffer.concat(parts));
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#check();
    const hex = Buffer.from(key).toString('hex');
    this.gotKeys.push(hex);
    const v = this.values.get(hex);
    return v === undefined ? undefined : Buffer.from(v);
  }

  /** From now on, also serve values as pieces of `size` bytes (views), as a socket delivers them. */
  servePieces(size: number): void {
    this.getParts = async (key) => {
      const v = await this.get(key);
      if (v === undefined) return undefined;
      const pieces: Uint8Array[] = [];
      for (let at = 0; at < v.length; at += size) pieces.push(v.subarray(at, at + size));
      return pieces;
    };
  }

  async delete(key: Uint8Array): Promise<boolean> {
    this.#check();
    return this.values.delete(Buffer.from(key).toString('hex'));
  }

  async exists(key: Uint8Array): Promise<boolean> {
    this.#check();
    return this.values.has(Buffer.from(key).toString('hex'));
  }

  async *keys(): AsyncIterable<Uint8Array> {
    this.#check();
    for (const k of [...this.values.keys()]) yield Buffer.from(k, 'hex');
  }

  /** Every stored byte, concatenated: what the backend's operator could read. */
  allBytes(): Buffer {
    return Buffer.concat(
      [...this.values.entries()].flatMap(([k, v]) => [Buffer.from(k, 'hex'), v]),
    );
  }
}
