/*
 * A kernel multiplies a coding matrix by shards: outputs[r] = sum over c of
 * coefs[r * inputs.length + c] · inputs[c], byte by byte, over the first `length` bytes.
 * Encoding (parity rows of the encoding matrix) and decoding (rows of an inverted
 * submatrix) are both this one operation, so each kernel implements only this.
 */
export interface GfKernel {
  readonly name: string;
  matMul(
    coefs: Uint8Array,
    inputs: readonly Uint8Array[],
    outputs: readonly Uint8Array[],
    length: number,
  ): void;
}

/**
 * Work proceeds in stripes of this many bytes so that a stripe of every input and output
 * stays in the CPU's L1/L2 cache while each output row is accumulated.
 */
export const STRIPE_BYTES = 16 * 1024;
