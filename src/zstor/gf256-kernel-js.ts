import { mulTable } from './gf256.ts';
import { type GfKernel, STRIPE_BYTES } from './gf256-kernel.ts';

/*
 * The portable kernel: one 256-byte table per coefficient, looked up once per byte. When
 * both buffers are 4-byte aligned it reads and writes 32-bit words (four lookups, one load,
 * one store), which roughly halves the memory operations V8 emits; otherwise byte by byte.
 */

function mulSetBytes(t: Uint8Array, src: Uint8Array, dst: Uint8Array, from: number, to: number) {
  for (let i = from; i < to; i++) dst[i] = t[src[i]!]!;
}

function mulXorBytes(t: Uint8Array, src: Uint8Array, dst: Uint8Array, from: number, to: number) {
  for (let i = from; i < to; i++) dst[i]! ^= t[src[i]!]!;
}

function mulWords(
  t: Uint8Array,
  src: Uint32Array,
  dst: Uint32Array,
  from: number,
  to: number,
  xor: boolean,
) {
  // Byte order does not matter: every byte is mapped independently and put back in place.
  if (xor) {
    for (let i = from; i < to; i++) {
      const w = src[i]!;
      dst[i]! ^=
        t[w & 0xff]! |
        (t[(w >>> 8) & 0xff]! << 8) |
        (t[(w >>> 16) & 0xff]! << 16) |
        (t[w >>> 24]! << 24);
    }
  } else {
    for (let i = from; i < to; i++) {
      const w = src[i]!;
      dst[i] =
        t[w & 0xff]! |
        (t[(w >>> 8) & 0xff]! << 8) |
        (t[(w >>> 16) & 0xff]! << 16) |
        (t[w >>> 24]! << 24);
    }
  }
}

function words(b: Uint8Array): Uint32Array | undefined {
  return b.byteOffset % 4 === 0
    ? new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2)
    : undefined;
}

export const jsKernel: GfKernel = {
  name: 'js',
  matMul(coefs, inputs, outputs, length) {
    const cols = inputs.length;
    const inWords = inputs.map(words);
    const outWords = outputs.map(words);
    for (let start = 0; start < length; start += STRIPE_BYTES) {
      const end = Math.min(length, start + STRIPE_BYTES);
      for (let r = 0; r < outputs.length; r++) {
        const out = outputs[r]!;
        const ow = outWords[r];
        for (let c = 0; c < cols; c++) {
          const t = mulTable(coefs[r * cols + c]!);
          const src = inputs[c]!;
          const iw = inWords[c];
          let from = start;
          if (iw !== undefined && ow !== undefined) {
            const wordEnd = end >>> 2;
            mulWords(t, iw, ow, start >>> 2, wordEnd, c > 0);
            from = wordEnd << 2;
          }
          if (c === 0) mulSetBytes(t, src, out, from, end);
          else mulXorBytes(t, src, out, from, end);
        }
      }
    }
  },
};
