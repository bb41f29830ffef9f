import { gfInv, gfMul } from './gf256.ts';

/*
 * Small dense matrices over GF(2^8), stored row-major in one Uint8Array. Only the coding
 * matrices go through here (at most 96 x 64), never data, so clarity beats speed.
 */

export interface GfMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly cells: Uint8Array;
}

export function gfMatrix(rows: number, cols: number): GfMatrix {
  return { rows, cols, cells: new Uint8Array(rows * cols) };
}

export function gfIdentity(n: number): GfMatrix {
  const m = gfMatrix(n, n);
  for (let i = 0; i < n; i++) m.cells[i * n + i] = 1;
  return m;
}

/**
 * The systematic encoding matrix of a `data + parity` code: the identity on top (data shards
 * are the data itself) and a Cauchy matrix below, C[i][j] = 1 / (x_i + y_j) with
 * x_i = data + i and y_j = j, all distinct since data + parity <= 256. Every square
 * submatrix of a Cauchy matrix is invertible, so every `data` rows of [I; C] are: any
 * `data` shards rebuild the rest (the code is MDS). Part of the stored format.
 */
export function cauchyEncodingMatrix(data: number, parity: number): GfMatrix {
  const m = gfMatrix(data + parity, data);
  for (let i = 0; i < data; i++) m.cells[i * data + i] = 1;
  for (let i = 0; i < parity; i++)
    for (let j = 0; j < data; j++) m.cells[(data + i) * data + j] = gfInv((data + i) ^ j);
  return m;
}

/** The rows `indices` of `m`, in that order. */
export function gfSelectRows(m: GfMatrix, indices: readonly number[]): GfMatrix {
  const out = gfMatrix(indices.length, m.cols);
  indices.forEach((r, i) => {
    out.cells.set(m.cells.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols);
  });
  return out;
}

export function gfMultiply(a: GfMatrix, b: GfMatrix): GfMatrix {
  if (a.cols !== b.rows)
    throw new RangeError(`cannot multiply ${a.rows}x${a.cols} by ${b.rows}x${b.cols}`);
  const out = gfMatrix(a.rows, b.cols);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < b.cols; j++) {
      let acc = 0;
      for (let k = 0; k < a.cols; k++)
        acc ^= gfMul(a.cells[i * a.cols + k]!, b.cells[k * b.cols + j]!);
      out.cells[i * b.cols + j] = acc;
    }
  return out;
}

/**
 * The inverse by Gauss-Jordan elimination.
 * @throws RangeError when `m` is singular, which the MDS property rules out for coding matrices
 */
export function gfInvert(m: GfMatrix): GfMatrix {
  const n = m.rows;
  if (m.cols !== n) throw new RangeError(`cannot invert a ${m.rows}x${m.cols} matrix`);
  const work = Uint8Array.from(m.cells);
  const inv = gfIdentity(n).cells;
  const swap = (cells: Uint8Array, r1: number, r2: number) => {
    for (let c = 0; c < n; c++) {
      const t = cells[r1 * n + c]!;
      cells[r1 * n + c] = cells[r2 * n + c]!;
      cells[r2 * n + c] = t;
    }
  };
  for (let col = 0; col < n; col++) {
    let pivot = col;
    while (pivot < n && work[pivot * n + col] === 0) pivot++;
    if (pivot === n) throw new RangeError('singular matrix');
    if (pivot !== col) {
      swap(work, pivot, col);
      swap(inv, pivot, col);
    }
    const scale = gfInv(work[col * n + col]!);
    for (let c = 0; c < n; c++) {
      work[col * n + c] = gfMul(work[col * n + c]!, scale);
      inv[col * n + c] = gfMul(inv[col * n + c]!, scale);
    }
    for (let r = 0; r < n; r++) {
      const factor = work[r * n + col]!;
      if (r === col || factor === 0) continue;
      for (let c = 0; c < n; c++) {
        work[r * n + c]! ^= gfMul(factor, work[col * n + c]!);
        inv[r * n + c]! ^= gfMul(factor, inv[col * n + c]!);
      }
    }
  }
  return { rows: n, cols: n, cells: inv };
}
