import { nibbleTables } from './gf256.ts';
import { type GfKernel, STRIPE_BYTES } from './gf256-kernel.ts';
import { gf256WasmModuleBytes, UNROLL } from './gf256-wasm-module.ts';

/*
 * The WebAssembly SIMD kernel. Shards live in JavaScript memory, so each stripe of every
 * input is copied into the module's memory, multiplied there and the output stripes copied
 * back; the copies are memcpy-speed and the stripes stay in cache. Memory layout: the nibble
 * tables of every coefficient at 0, then one stripe per input, then one per output.
 * Not reentrant, which is fine: it is synchronous and JavaScript is single-threaded.
 */

type Loop = (tables: number, src: number, dst: number, n: number) => void;

// The project's TypeScript libs (es2024, @types/node) do not declare WebAssembly; this is
// the part of it used here.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { readonly exports: Record<string, unknown> };
}
const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

const PAGE = 65536;
const VECTOR_BLOCK = 16 * UNROLL;

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** The SIMD kernel, or undefined where this engine lacks WebAssembly SIMD. */
export function createWasmKernel(): GfKernel | undefined {
  const bytes = gf256WasmModuleBytes();
  if (wasmApi === undefined || !wasmApi.validate(bytes)) return undefined;
  const instance = new wasmApi.Instance(new wasmApi.Module(bytes));
  const memory = instance.exports['memory'] as WasmMemory;
  const mulSet = instance.exports['mul_set'] as Loop;
  const mulXor = instance.exports['mul_xor'] as Loop;
  let heap = new Uint8Array(memory.buffer);
  let lastCoefs: Uint8Array | undefined;
  const ensure = (bytes: number) => {
    if (bytes > memory.buffer.byteLength) {
      memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / PAGE));
      heap = new Uint8Array(memory.buffer);
      lastCoefs = undefined;
    }
  };
  return {
    name: 'wasm-simd',
    matMul(coefs, inputs, outputs, length) {
      const cols = inputs.length;
      const rows = outputs.length;
      const tablesBytes = roundUp(rows * cols * 32, VECTOR_BLOCK);
      const inBase = tablesBytes;
      const outBase = inBase + cols * STRIPE_BYTES;
      ensure(outBase + rows * STRIPE_BYTES);
      // The same matrix comes back chunk after chunk: rebuild the tables only when it changes.
      if (lastCoefs === undefined || !sameBytes(lastCoefs, coefs, rows * cols)) {
        for (let i = 0; i < rows * cols; i++) nibbleTables(coefs[i]!, heap, i * 32);
        lastCoefs = Uint8Array.from(coefs.subarray(0, rows * cols));
      }
      for (let start = 0; start < length; start += STRIPE_BYTES) {
        const len = Math.min(STRIPE_BYTES, length - start);
        const vecLen = roundUp(len, VECTOR_BLOCK);
        for (let c = 0; c < cols; c++)
          heap.set(inputs[c]!.subarray(start, start + len), inBase + c * STRIPE_BYTES);
        for (let r = 0; r < rows; r++) {
          const dst = outBase + r * STRIPE_BYTES;
          for (let c = 0; c < cols; c++) {
            const loop = c === 0 ? mulSet : mulXor;
            loop((r * cols + c) * 32, inBase + c * STRIPE_BYTES, dst, vecLen);
          }
          outputs[r]!.set(heap.subarray(dst, dst + len), start);
        }
      }
    },
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  if (a.length !== n || b.length < n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}
