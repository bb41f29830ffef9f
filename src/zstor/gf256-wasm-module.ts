/*
 * The bytes of a small WebAssembly module with two SIMD loops, assembled here so no
 * toolchain is needed. Both take (tables, src, dst, n), n a multiple of 16 * UNROLL, and
 * multiply 16 bytes at a time with the split-nibble method:
 *   c·x = swizzle(low, x & 0x0f) ^ swizzle(high, x >> 4)
 * where low/high are the 32 bytes at `tables` (see nibbleTables in gf256.ts).
 *   mul_set: dst = c·src        mul_xor: dst ^= c·src
 * V8 compiles i8x16.swizzle to PSHUFB (plus a saturating add that keeps out-of-range
 * indices zero, which ours never are). Reference: the WebAssembly core spec 2.0, §5 (binary
 * format) and the SIMD opcode table.
 */

/** Vectors handled per loop iteration; n passed to the loops must be a multiple of 16 * UNROLL. */
export const UNROLL = 4;

const I32 = 0x7f;
const V128 = 0x7b;

function leb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128, which i32.const takes (64 as unsigned LEB would read back as -64). */
function sleb(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function section(id: number, body: number[]): number[] {
  return [id, ...leb(body.length), ...body];
}

function vector(items: number[][]): number[] {
  return [...leb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  const bytes = [...Buffer.from(s, 'utf8')];
  return [...leb(bytes.length), ...bytes];
}

const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  brIf: (depth: number) => [0x0d, ...leb(depth)],
  get: (i: number) => [0x20, ...leb(i)],
  set: (i: number) => [0x21, ...leb(i)],
  tee: (i: number) => [0x22, ...leb(i)],
  i32Const: (v: number) => [0x41, ...sleb(v)],
  i32Add: [0x6a],
  i32GeU: [0x4f],
  i32LtU: [0x49],
  v128Load: (offset: number) => [0xfd, 0x00, 0x04, ...leb(offset)],
  v128Store: (offset: number) => [0xfd, 0x0b, 0x04, ...leb(offset)],
  v128Splat0f: [0x41, 0x0f, 0xfd, 0x0f], // i32.const 15; i8x16.splat
  swizzle: [0xfd, 0x0e],
  and: [0xfd, 0x4e],
  xor: [0xfd, 0x51],
  shrU: [0xfd, 0x6d],
};

// Parameters and locals: 0 tables, 1 src, 2 dst, 3 n, 4 end, 5 low, 6 high, 7 mask, 8 x.
const [TABLES, SRC, DST, N, END, LOW, HIGH, MASK, X] = [0, 1, 2, 3, 4, 5, 6, 7, 8];

function product(): number[] {
  return [
    ...op.get(LOW),
    ...op.get(X),
    ...op.get(MASK),
    ...op.and,
    ...op.swizzle,
    ...op.get(HIGH),
    ...op.get(X),
    ...op.i32Const(4),
    ...op.shrU,
    ...op.swizzle,
    ...op.xor,
  ];
}

function loopBody(xor: boolean): number[] {
  const out: number[] = [];
  for (let u = 0; u < UNROLL; u++) {
    const offset = u * 16;
    out.push(...op.get(SRC), ...op.v128Load(offset), ...op.set(X), ...op.get(DST));
    if (xor) out.push(...op.get(DST), ...op.v128Load(offset));
    out.push(...product());
    if (xor) out.push(...op.xor);
    out.push(...op.v128Store(offset));
  }
  return out;
}

function functionBody(xor: boolean): number[] {
  const locals = vector([
    [1, I32],
    [4, V128],
  ]);
  const stride = 16 * UNROLL;
  const code = [
    ...op.get(TABLES),
    ...op.v128Load(0),
    ...op.set(LOW),
    ...op.get(TABLES),
    ...op.v128Load(16),
    ...op.set(HIGH),
    ...op.v128Splat0f,
    ...op.set(MASK),
    ...op.get(SRC),
    ...op.get(N),
    ...op.i32Add,
    ...op.set(END),
    ...op.block,
    ...op.get(SRC),
    ...op.get(END),
    ...op.i32GeU,
    ...op.brIf(0),
    ...op.loop,
    ...loopBody(xor),
    ...op.get(DST),
    ...op.i32Const(stride),
    ...op.i32Add,
    ...op.set(DST),
    ...op.get(SRC),
    ...op.i32Const(stride),
    ...op.i32Add,
    ...op.tee(SRC),
    ...op.get(END),
    ...op.i32LtU,
    ...op.brIf(0),
    ...op.end,
    ...op.end,
    ...op.end,
  ];
  const body = [...locals, ...code];
  return [...leb(body.length), ...body];
}

/** The module's bytes: exports `memory` (1 page to start, growable), `mul_set` and `mul_xor`. */
export function gf256WasmModuleBytes(): Uint8Array {
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector([[0x60, 4, I32, I32, I32, I32, 0]])),
    ...section(3, vector([[0], [0]])),
    ...section(5, vector([[0x00, 1]])),
    ...section(
      7,
      vector([
        [...name('memory'), 0x02, 0],
        [...name('mul_set'), 0x00, 0],
        [...name('mul_xor'), 0x00, 1],
      ]),
    ),
    ...section(10, vector([functionBody(false), functionBody(true)])),
  ];
  return Uint8Array.from(bytes);
}
