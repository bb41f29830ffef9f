/*
 * Arithmetic in GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d) and generator
 * 2, the field most Reed-Solomon storage codes use (Backblaze, klauspost/reedsolomon, ISA-L).
 * Addition is XOR. Multiplication goes through log/exp tables for scalars and through
 * per-coefficient tables for whole buffers (gf256-kernel-*.ts). The field is part of the
 * stored format: changing it makes every stored shard unreadable.
 */

export const GF_POLYNOMIAL = 0x11d;

/** EXP[i] = 2^i, doubled in length so EXP[log a + log b] needs no modulo. */
export const GF_EXP = new Uint8Array(512);
/** LOG[a] for a != 0; LOG[0] is unused. */
export const GF_LOG = new Uint8Array(256);

{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    GF_EXP[i] = x;
    GF_LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= GF_POLYNOMIAL;
  }
  for (let i = 255; i < 512; i++) GF_EXP[i] = GF_EXP[i - 255]!;
}

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return GF_EXP[GF_LOG[a]! + GF_LOG[b]!]!;
}

/** The multiplicative inverse; `a` must not be 0 (callers guarantee it: a singular matrix is a bug). */
export function gfInv(a: number): number {
  if (a === 0) throw new RangeError('0 has no inverse in GF(2^8)');
  return GF_EXP[255 - GF_LOG[a]!]!;
}

const MUL_TABLES: Uint8Array[] = [];

/** The 256-byte table of c·x for every x, built once per coefficient. */
export function mulTable(c: number): Uint8Array {
  let table = MUL_TABLES[c];
  if (table === undefined) {
    table = new Uint8Array(256);
    for (let x = 0; x < 256; x++) table[x] = gfMul(c, x);
    MUL_TABLES[c] = table;
  }
  return table;
}

/**
 * The split-nibble tables of c: bytes 0..15 hold c·x for x = 0..15 and bytes 16..31 hold
 * c·(x << 4), so c·b = low[b & 15] ^ high[b >> 4] (a byte shuffle per half in SIMD).
 */
export function nibbleTables(c: number, out: Uint8Array, offset: number): void {
  for (let x = 0; x < 16; x++) {
    out[offset + x] = gfMul(c, x);
    out[offset + 16 + x] = gfMul(c, x << 4);
  }
}
