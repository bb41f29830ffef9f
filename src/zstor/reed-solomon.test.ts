import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import type { GfKernel } from './gf256-kernel.ts';
import { jsKernel } from './gf256-kernel-js.ts';
import { createWasmKernel } from './gf256-kernel-wasm.ts';
import { ReedSolomon } from './reed-solomon.ts';

/*
 * A deliberately plain reference: multiplication by shift-and-add (no tables), the Cauchy
 * matrix built from its definition, encoding as a matrix product byte by byte, decoding by
 * Gaussian elimination on the rows of the shards that survived.
 */
function refMul(a: number, b: number): number {
  let r = 0;
  while (b > 0) {
    if (b & 1) r ^= a;
    a <<= 1;
    if (a & 0x100) a ^= 0x11d;
    b >>= 1;
  }
  return r;
}

function refInv(a: number): number {
  for (let x = 1; x < 256; x++) if (refMul(a, x) === 1) return x;
  throw new Error('no inverse');
}

function refRow(data: number, index: number): number[] {
  if (index < data) return Array.from({ length: data }, (_, j) => (j === index ? 1 : 0));
  return Array.from({ length: data }, (_, j) => refInv(index ^ j));
}

function refEncode(data: number, parity: number, shards: Uint8Array[]): Uint8Array[] {
  const len = shards[0]!.length;
  return Array.from({ length: parity }, (_, p) => {
    const row = refRow(data, data + p);
    const out = new Uint8Array(len);
    for (let i = 0; i < len; i++) {
      let acc = 0;
      for (let j = 0; j < data; j++) acc ^= refMul(row[j]!, shards[j]![i]!);
      out[i] = acc;
    }
    return out;
  });
}

/** Solves rows(present) · D = shards(present) for the data D by Gaussian elimination. */
function refDecode(data: number, present: number[], shards: Uint8Array[]): Uint8Array[] {
  const len = shards[0]!.length;
  const a = present.map((i) => refRow(data, i));
  const b = present.map((i) => Array.from(shards[i]!));
  for (let col = 0; col < data; col++) {
    const p = a.findIndex((row, r) => r >= col && row[col] !== 0);
    [a[col], a[p]] = [a[p]!, a[col]!];
    [b[col], b[p]] = [b[p]!, b[col]!];
    const s = refInv(a[col]![col]!);
    a[col] = a[col]!.map((v) => refMul(v, s));
    b[col] = b[col]!.map((v) => refMul(v, s));
    for (let r = 0; r < data; r++) {
      const f = a[r]![col]!;
      if (r === col || f === 0) continue;
      a[r] = a[r]!.map((v, c) => v ^ refMul(f, a[col]![c]!));
      b[r] = b[r]!.map((v, c) => v ^ refMul(f, b[col]![c]!));
    }
  }
  return b.map((row) => Uint8Array.from(row.slice(0, len)));
}

function subsets(n: number, size: number): number[][] {
  if (size === 0) return [[]];
  if (n < size) return [];
  return [...subsets(n - 1, size), ...subsets(n - 1, size - 1).map((s) => [...s, n - 1])];
}

const wasm = createWasmKernel();
const kernels: GfKernel[] = wasm === undefined ? [jsKernel] : [jsKernel, wasm];

test('WebAssembly SIMD is available on the pinned Node, so the fast kernel is tested', () => {
  assert.ok(wasm !== undefined);
});

for (const kernel of kernels) {
  describe(`Reed-Solomon with the ${kernel.name} kernel`, () => {
    for (const [data, parity] of [
      [4, 2],
      [3, 3],
      [5, 3],
      [1, 2],
      [2, 1],
    ] as const) {
      test(`${data}+${parity}: parity equals the reference and every loss of up to ${parity} shards is rebuilt`, () => {
        const rs = new ReedSolomon(data, parity, kernel);
        const shards = Array.from({ length: data }, () => randomBytes(67));
        const parityShards = rs.encode(shards);
        assert.deepEqual(
          parityShards.map((p) => Buffer.from(p)),
          refEncode(data, parity, shards).map((p) => Buffer.from(p)),
        );
        const all = [...shards, ...parityShards];
        for (let lost = 1; lost <= parity; lost++)
          for (const gone of subsets(data + parity, lost)) {
            const slots: (Uint8Array | undefined)[] = [...all];
            for (const i of gone) slots[i] = undefined;
            const rebuilt = rs.reconstruct(slots);
            assert.deepEqual(rebuilt, gone);
            for (const [i, s] of slots.entries())
              assert.deepEqual(
                Buffer.from(s!),
                Buffer.from(all[i]!),
                `shard ${i} after losing ${gone}`,
              );
            const present = all
              .map((_, i) => i)
              .filter((i) => !gone.includes(i))
              .slice(0, data);
            const ref = refDecode(data, present, all);
            for (const [i, d] of ref.entries())
              assert.deepEqual(Buffer.from(d), Buffer.from(all[i]!));
          }
      });
    }

    test('random configurations up to 64+32 match the reference encoding and decode from random survivors', () => {
      for (let round = 0; round < 12; round++) {
        const data = 1 + Math.floor(Math.random() * 64);
        const parity = Math.floor(Math.random() * 33);
        const len = 1 + Math.floor(Math.random() * 200);
        const rs = new ReedSolomon(data, parity, kernel);
        const shards = Array.from({ length: data }, () => randomBytes(len));
        const parityShards = rs.encode(shards);
        assert.deepEqual(
          parityShards.map((p) => Buffer.from(p)),
          refEncode(data, parity, shards).map((p) => Buffer.from(p)),
          `${data}+${parity}`,
        );
        const all = [...shards, ...parityShards];
        const order = all.map((_, i) => i).sort(() => Math.random() - 0.5);
        const gone = order.slice(0, parity);
        const slots: (Uint8Array | undefined)[] = [...all];
        for (const i of gone) slots[i] = undefined;
        rs.reconstruct(slots);
        for (const [i, s] of slots.entries())
          assert.deepEqual(Buffer.from(s!), Buffer.from(all[i]!));
      }
    });

    test('long shards across several stripes, unaligned offsets and odd lengths', () => {
      const rs = new ReedSolomon(10, 4, kernel);
      const backing = randomBytes(10 * 40_003 + 3);
      const shards = Array.from({ length: 10 }, (_, i) =>
        backing.subarray(3 + i * 40_003, 3 + (i + 1) * 40_003),
      );
      const parityShards = rs.encode(shards);
      const slots: (Uint8Array | undefined)[] = [...shards, ...parityShards];
      for (const i of [0, 3, 7, 12]) slots[i] = undefined;
      rs.reconstruct(slots, true);
      for (const [i, s] of shards.entries())
        assert.deepEqual(Buffer.from(slots[i]!), Buffer.from(s));
      assert.equal(slots[12], undefined, 'dataOnly leaves missing parity alone');
    });
  });
}

test('both kernels produce the same bytes on megabyte shards', () => {
  if (wasm === undefined) return;
  const shards = Array.from({ length: 16 }, () => randomBytes(300_001));
  const a = new ReedSolomon(16, 4, jsKernel).encode(shards);
  const b = new ReedSolomon(16, 4, wasm).encode(shards);
  for (const [i, p] of a.entries()) assert.deepEqual(Buffer.from(p), Buffer.from(b[i]!));
});

test('split pads the last shards with zeros and join cuts the padding', () => {
  const rs = new ReedSolomon(4, 2);
  for (const size of [0, 1, 3, 4, 5, 1000, 1001]) {
    const bytes = randomBytes(size);
    const shards = rs.split(bytes);
    assert.equal(shards.length, 4);
    assert.ok(shards.every((s) => s.length === Math.max(1, Math.ceil(size / 4))));
    assert.deepEqual(Buffer.from(rs.join(shards, size)), bytes);
  }
});

test('refuses configurations out of range', () => {
  for (const [d, p] of [
    [0, 2],
    [65, 2],
    [4, -1],
    [4, 33],
    [1.5, 1],
  ] as const)
    assert.throws(
      () => new ReedSolomon(d, p),
      (e) => e instanceof VdcError && e.code === 'RS_CONFIG_INVALID',
    );
  assert.doesNotThrow(() => new ReedSolomon(64, 32));
  assert.doesNotThrow(() => new ReedSolomon(1, 0));
});

test('too few shards is an error naming the missing ones', () => {
  const rs = new ReedSolomon(4, 2);
  const shards = rs.split(randomBytes(100));
  const slots: (Uint8Array | undefined)[] = [...shards, ...rs.encode(shards)];
  slots[1] = slots[2] = slots[5] = undefined;
  assert.throws(
    () => rs.reconstruct(slots),
    (e) =>
      e instanceof VdcError && e.code === 'RS_TOO_FEW_SHARDS' && /missing: 1, 2, 5/.test(e.message),
  );
  assert.equal(slots[1], undefined, 'nothing was filled in');
});

test('shards of different lengths or a wrong count are refused', () => {
  const rs = new ReedSolomon(3, 2);
  const bad = (fn: () => unknown) =>
    assert.throws(fn, (e) => e instanceof VdcError && e.code === 'RS_SHARD_SIZE_MISMATCH');
  bad(() => rs.encode([new Uint8Array(4), new Uint8Array(4), new Uint8Array(5)]));
  bad(() => rs.encode([new Uint8Array(4), new Uint8Array(4)]));
  bad(() =>
    rs.encodeInto([new Uint8Array(4), new Uint8Array(4), new Uint8Array(4)], [new Uint8Array(4)]),
  );
  bad(() =>
    rs.reconstruct([new Uint8Array(4), undefined, new Uint8Array(4), new Uint8Array(3), undefined]),
  );
  bad(() => rs.reconstruct([new Uint8Array(4)]));
});
