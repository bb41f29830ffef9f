import { fail } from '../core/assert.ts';
import type { GfKernel } from './gf256-kernel.ts';
import { jsKernel } from './gf256-kernel-js.ts';
import { createWasmKernel } from './gf256-kernel-wasm.ts';
import {
  cauchyEncodingMatrix,
  type GfMatrix,
  gfInvert,
  gfMultiply,
  gfSelectRows,
} from './gf256-matrix.ts';

export const MAX_DATA_SHARDS = 64;
export const MAX_PARITY_SHARDS = 32;

let defaultKernel: GfKernel | undefined;

/** The fastest kernel this engine runs: WebAssembly SIMD, else plain JavaScript. */
export function fastestKernel(): GfKernel {
  defaultKernel ??= createWasmKernel() ?? jsKernel;
  return defaultKernel;
}

/**
 * A systematic Reed-Solomon code over GF(2^8): `data` shards carry the data unchanged and
 * `parity` shards are computed from them so that any `data` of the `data + parity` shards
 * rebuild all of them (see cauchyEncodingMatrix for why).
 */
export class ReedSolomon {
  readonly data: number;
  readonly parity: number;
  readonly kernel: GfKernel;
  readonly #matrix: GfMatrix;
  readonly #parityRows: Uint8Array;
  readonly #decoders = new Map<string, Uint8Array>();

  /** @throws VdcError RS_CONFIG_INVALID when data is not 1..64 or parity not 0..32 */
  constructor(data: number, parity: number, kernel: GfKernel = fastestKernel()) {
    if (!Number.isSafeInteger(data) || data < 1 || data > MAX_DATA_SHARDS)
      fail('RS_CONFIG_INVALID', `'data' must be an integer in 1..${MAX_DATA_SHARDS}, got ${data}`);
    if (!Number.isSafeInteger(parity) || parity < 0 || parity > MAX_PARITY_SHARDS)
      fail(
        'RS_CONFIG_INVALID',
        `'parity' must be an integer in 0..${MAX_PARITY_SHARDS}, got ${parity}`,
      );
    this.data = data;
    this.parity = parity;
    this.kernel = kernel;
    this.#matrix = cauchyEncodingMatrix(data, parity);
    this.#parityRows = this.#matrix.cells.slice(data * data);
  }

  get total(): number {
    return this.data + this.parity;
  }

  /** The shard length for `bytes` of data: ceil(bytes / data), at least 1. */
  shardLength(bytes: number): number {
    return Math.max(1, Math.ceil(bytes / this.data));
  }

  /**
   * Splits `bytes` into `data` shards of shardLength(bytes.length), the last ones padded with
   * zeros. Shards are views into `bytes` where no padding is needed.
   */
  split(bytes: Uint8Array): Uint8Array[] {
    const len = this.shardLength(bytes.length);
    const shards: Uint8Array[] = [];
    for (let i = 0; i < this.data; i++) {
      const from = i * len;
      if (from + len <= bytes.length) shards.push(bytes.subarray(from, from + len));
      else {
        const shard = new Uint8Array(len);
        if (from < bytes.length) shard.set(bytes.subarray(from));
        shards.push(shard);
      }
    }
    return shards;
  }

  /** Joins the data shards back and cuts the padding: the inverse of split. */
  join(dataShards: readonly Uint8Array[], bytes: number): Uint8Array {
    const out = new Uint8Array(bytes);
    let at = 0;
    for (const shard of dataShards.slice(0, this.data)) {
      if (at >= bytes) break;
      const take = Math.min(shard.length, bytes - at);
      out.set(shard.subarray(0, take), at);
      at += take;
    }
    return out;
  }

  /**
   * The parity shards of `dataShards` (`data` shards of one length).
   * @throws VdcError RS_SHARD_SIZE_MISMATCH when the count or lengths are wrong
   */
  encode(dataShards: readonly Uint8Array[]): Uint8Array[] {
    const len = dataShards[0]?.length ?? 0;
    const parity = Array.from({ length: this.parity }, () => Buffer.allocUnsafe(len));
    this.encodeInto(dataShards, parity);
    return parity;
  }

  /**
   * Like encode, but writes the parity into `parityShards` (`parity` buffers of the data
   * shards' length), so a caller can place parity straight where it is sent from and no
   * buffer is allocated here.
   * @throws VdcError RS_SHARD_SIZE_MISMATCH when a count or a length is wrong
   */
  encodeInto(dataShards: readonly Uint8Array[], parityShards: readonly Uint8Array[]): void {
    if (dataShards.length !== this.data)
      fail(
        'RS_SHARD_SIZE_MISMATCH',
        `encode needs ${this.data} data shards, got ${dataShards.length}`,
      );
    if (parityShards.length !== this.parity)
      fail(
        'RS_SHARD_SIZE_MISMATCH',
        `encode needs ${this.parity} parity buffers, got ${parityShards.length}`,
      );
    const len = sameLength([...dataShards, ...parityShards]);
    if (this.parity > 0 && len > 0)
      this.kernel.matMul(this.#parityRows, dataShards, parityShards, len);
  }

  /**
   * Fills in the missing (undefined) shards of `shards` (data then parity, `data + parity`
   * entries) from any `data` present ones, in place; returns the indices it rebuilt. With
   * `dataOnly`, only missing data shards are rebuilt (enough to read).
   * @throws VdcError RS_TOO_FEW_SHARDS when fewer than `data` shards are present
   * @throws VdcError RS_SHARD_SIZE_MISMATCH when the count or lengths are wrong
   */
  reconstruct(shards: (Uint8Array | undefined)[], dataOnly = false): number[] {
    if (shards.length !== this.total)
      fail('RS_SHARD_SIZE_MISMATCH', `reconstruct needs ${this.total} slots, got ${shards.length}`);
    const present: number[] = [];
    const missing: number[] = [];
    shards.forEach((s, i) => {
      if (s !== undefined) present.push(i);
      else if (!dataOnly || i < this.data) missing.push(i);
    });
    if (present.length < this.data)
      fail(
        'RS_TOO_FEW_SHARDS',
        `${present.length} of ${this.total} shards present, ${this.data} needed; missing: ${shards
          .map((s, i) => (s === undefined ? i : -1))
          .filter((i) => i >= 0)
          .join(', ')}`,
      );
    if (missing.length === 0) return [];
    const inputs = present.slice(0, this.data);
    const len = sameLength(present.map((i) => shards[i]!));
    const coefs = this.#decoder(inputs, missing);
    const outputs = missing.map(() => Buffer.allocUnsafe(len));
    if (len > 0)
      this.kernel.matMul(
        coefs,
        inputs.map((i) => shards[i]!),
        outputs,
        len,
      );
    missing.forEach((index, k) => {
      shards[index] = outputs[k]!;
    });
    return missing;
  }

  /**
   * The rows that map the shards `inputs` to the shards `wanted`: the encoding rows of
   * `wanted` times the inverse of the encoding rows of `inputs`. Cached, since a degraded
   * read meets the same pattern of missing shards chunk after chunk.
   */
  #decoder(inputs: number[], wanted: number[]): Uint8Array {
    const key = `${inputs.join(',')}>${wanted.join(',')}`;
    let coefs = this.#decoders.get(key);
    if (coefs === undefined) {
      const inverse = gfInvert(gfSelectRows(this.#matrix, inputs));
      coefs = gfMultiply(gfSelectRows(this.#matrix, wanted), inverse).cells;
      if (this.#decoders.size >= 64) this.#decoders.clear();
      this.#decoders.set(key, coefs);
    }
    return coefs;
  }
}

function sameLength(shards: readonly Uint8Array[]): number {
  const len = shards[0]?.length ?? 0;
  for (const [i, s] of shards.entries())
    if (s.length !== len)
      fail(
        'RS_SHARD_SIZE_MISMATCH',
        `shard ${i} is ${s.length} bytes but shard 0 is ${len}: all shards of a stripe have one length`,
      );
  return len;
}
