import { fail } from '../core/assert.ts';
import type { ShardBackend } from './shard-backend.ts';

/**
 * Test support (tests only): wraps any backend (in-memory or zdb), records the key of
 * every put and delete, and can be told to fail some puts or deletes, as a backend
 * dying at that moment would. Tests count on it what an operation wrote (splicing must
 * write no data shard) and play crashes between the steps of a write.
 */
export class RecordingBackend implements ShardBackend {
  readonly inner: ShardBackend;
  readonly id: string;
  readonly node: string;
  readonly farm: string | undefined;
  /** Hex keys of every acknowledged put and delete, in order. */
  readonly putKeys: string[] = [];
  readonly deletedKeys: string[] = [];
  /** Puts whose key this answers true for fail with ZSTOR_BACKEND_UNAVAILABLE. */
  failPut: ((key: Buffer) => boolean) | undefined;
  /** Deletes whose key this answers true for fail likewise. */
  failDelete: ((key: Buffer) => boolean) | undefined;
  readonly getParts?: (key: Uint8Array) => Promise<readonly Uint8Array[] | undefined>;
  readonly keys?: () => AsyncIterable<Uint8Array>;

  constructor(inner: ShardBackend) {
    this.inner = inner;
    this.id = inner.id;
    this.node = inner.node;
    this.farm = inner.farm;
    if (inner.getParts !== undefined) this.getParts = (key) => inner.getParts!(key);
    if (inner.keys !== undefined) this.keys = () => inner.keys!();
  }

  #down(what: string): never {
    fail('ZSTOR_BACKEND_UNAVAILABLE', `backend ${this.id} failed the ${what} (test)`);
  }

  async put(key: Uint8Array, parts: readonly Uint8Array[]): Promise<void> {
    const k = Buffer.from(key);
    if (this.failPut?.(k) === true) this.#down('put');
    await this.inner.put(key, parts);
    this.putKeys.push(k.toString('hex'));
  }

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.inner.get(key);
  }

  async delete(key: Uint8Array): Promise<boolean> {
    const k = Buffer.from(key);
    if (this.failDelete?.(k) === true) this.#down('delete');
    const existed = await this.inner.delete(key);
    this.deletedKeys.push(k.toString('hex'));
    return existed;
  }

  exists(key: Uint8Array): Promise<boolean> {
    return this.inner.exists(key);
  }
}
