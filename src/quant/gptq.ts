// GPTQ (Frantar, Ashkboos, Hoefler, Alistarh 2022, "GPTQ: Accurate Post-Training Quantization for
// Generative Pre-trained Transformers", arXiv 2210.17323, Algorithm 1) on one 2-D weight, given the
// Gram matrix of its calibration inputs, exactly as test/fixtures/golden/gptq/README.md defines it:
//
//   H = (2/N)·Σ x xᵀ (float64); dead inputs (H_jj = 0): H_jj = 1 and W[:, j] = 0; H += 0.01·mean(diag H)·I;
//   U = upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU); Wf = float64(W) [out, in];
//   for i = 0..in−1: when i % g = 0, each row's grid for columns i..i+g−1 from float32(current Wf) by the
//   RTN formulas of rtn.ts; q = dequant(quant(float32(Wf[:, i]))); err = (Wf[:, i] − q)/U[i,i];
//   Wf[:, j] −= err·U[i,j] for j > i.
//
// Speed: the column loop runs in lazy blocks of `blockSize` (128) columns (the paper's §"Lazy batch
// updates"): inside a block every update is applied at once, the columns after it receive the block's
// errors in one pass at the block's end. Each weight still receives its subtractions in the same order
// (ascending i), so the result is bit-identical to the plain loop (`gptqColumnsNaive`). A group's grid
// must see the in-block updates (the widely copied original code takes it from weights without them),
// so a block is cut where a group would start inside it and run past its end: a group then starts at a
// block start, where every later column is current.
//
// U without forming H⁻¹: with H = R Rᵀ, R upper triangular (a Cholesky run from the last column back),
// H⁻¹ = R⁻ᵀ R⁻¹, so U = R⁻¹. The naive twin `upperCholeskyOfInverseNaive` does what the reference does
// (Cholesky, inverse, Cholesky of the inverse); the two agree to rounding.
//
// By matrix products (`quantizeGptqWith`, the calibration pass on onnxruntime): U by blocks of 128
// columns and each lazy block's update of the columns after it as one product, the O(n³) and O(out·n²)
// work in float64 MatMuls; a weight then receives a block's errors summed rather than one by one, so the
// result equals the plain solver's to rounding (levels equal on the golden data and in bench/gptq.ts).
//
// `actOrder`: columns in descending diag(H) order (after the dead-input fix, before dampening; ties by
// index), with "static groups": every group's grid is fixed from the weights before the loop, so the
// groups stay the natural runs of g input columns and the stored record is the same as without it.

import { ConfigError } from '../errors.ts';
import type { Layout } from '../model/spec.ts';
import type { Tensor } from '../tensor/tensor.ts';
import {
  assertFinite,
  checkSpec,
  dimsOf,
  groupParams,
  resolveGroupSize,
  roundHalfEven,
  type QuantizedTensor,
  type QuantSpec,
} from './rtn.ts';

const f = Math.fround;

export const DEFAULT_PERCDAMP = 0.01;
export const DEFAULT_BLOCK_SIZE = 128;

export interface GptqOptions {
  /** Columns by descending diag(H), static groups (default false). */
  readonly actOrder?: boolean;
  /** Dampening as a share of mean(diag H) (default 0.01). */
  readonly percDamp?: number;
  /** Lazy-update block width in columns (default 128). */
  readonly blockSize?: number;
  /** Tensor name, for error messages. */
  readonly name?: string;
}

/** What the solver saw, for the manifest and the golden comparison. */
export interface GptqInfo {
  readonly deadInputs: number;
  /** The dampening added to the diagonal: percDamp·mean(diag H). */
  readonly damp: number;
}

// ---------------------------------------------------------------- the Gram matrix of the inputs

/**
 * Adds Σ_t x_t x_tᵀ of rows x [T, n] to the upper triangle of `acc` [n, n] (float64, row-major).
 * Call `symmetrize` once at the end. Zero inputs are skipped (GELU outputs hold many).
 */
export function accumulateGram(acc: Float64Array, x: Float32Array, T: number, n: number): void {
  if (acc.length !== n * n) throw new Error(`accumulateGram: accumulator holds ${acc.length} values, not ${n}×${n}`);
  // four rows at a time: each accumulator entry is loaded and stored once per four products
  let t = 0;
  for (; t + 4 <= T; t += 4) {
    const r0 = t * n;
    const r1 = r0 + n;
    const r2 = r1 + n;
    const r3 = r2 + n;
    for (let a = 0; a < n; a++) {
      const x0 = x[r0 + a];
      const x1 = x[r1 + a];
      const x2 = x[r2 + a];
      const x3 = x[r3 + a];
      if (x0 === 0 && x1 === 0 && x2 === 0 && x3 === 0) continue;
      const base = a * n;
      for (let b = a; b < n; b++) acc[base + b] += x0 * x[r0 + b] + x1 * x[r1 + b] + x2 * x[r2 + b] + x3 * x[r3 + b];
    }
  }
  for (; t < T; t++) {
    const r = t * n;
    for (let a = 0; a < n; a++) {
      const xa = x[r + a];
      if (xa === 0) continue;
      const base = a * n;
      for (let b = a; b < n; b++) acc[base + b] += xa * x[r + b];
    }
  }
}

/** Copies the upper triangle of `m` [n, n] onto the lower one, in place. */
export function symmetrize(m: Float64Array, n: number): void {
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) m[b * n + a] = m[a * n + b];
}

// ---------------------------------------------------------------- U, the upper Cholesky factor of H⁻¹

/** U [n, n] upper triangular with H⁻¹ = UᵀU, for a symmetric positive-definite H [n, n] (float64). */
export function upperCholeskyOfInverse(H: Float64Array, n: number, name = 'weight'): Float64Array {
  return upperInverse(reversedCholesky(H, n, name), n);
}

/**
 * R [n, n] upper triangular with H = R Rᵀ for a symmetric positive-definite H [n, n]; `pivot0` is added
 * to the pivot named in the error (a diagonal block of a larger matrix).
 */
function reversedCholesky(H: Float64Array, n: number, name: string, pivot0 = 0): Float64Array {
  // R upper with H = R Rᵀ, from the last column back: R[j][j]² = H[j][j] − Σ_{k>j} R[j][k]²,
  // R[i][j] = (H[i][j] − Σ_{k>j} R[i][k] R[j][k]) / R[j][j] for i < j. Rows i and j are read contiguously.
  const R = new Float64Array(n * n);
  for (let j = n - 1; j >= 0; j--) {
    const rj = j * n;
    let s = H[rj + j];
    for (let k = j + 1; k < n; k++) s -= R[rj + k] * R[rj + k];
    if (!(s > 0)) throw notPositiveDefinite(name, pivot0 + j);
    const d = Math.sqrt(s);
    R[rj + j] = d;
    // Four rows at a time: four independent chains of subtractions (the add latency, not the
    // arithmetic, bounds one chain), each in the same order as the single-row loop below, so the
    // same bits.
    let i = 0;
    for (; i + 4 <= j; i += 4) {
      const r0 = i * n;
      const r1 = r0 + n;
      const r2 = r1 + n;
      const r3 = r2 + n;
      let t0 = H[r0 + j];
      let t1 = H[r1 + j];
      let t2 = H[r2 + j];
      let t3 = H[r3 + j];
      for (let k = j + 1; k < n; k++) {
        const x = R[rj + k];
        t0 -= R[r0 + k] * x;
        t1 -= R[r1 + k] * x;
        t2 -= R[r2 + k] * x;
        t3 -= R[r3 + k] * x;
      }
      R[r0 + j] = t0 / d;
      R[r1 + j] = t1 / d;
      R[r2 + j] = t2 / d;
      R[r3 + j] = t3 / d;
    }
    for (; i < j; i++) {
      const ri = i * n;
      let t = H[ri + j];
      for (let k = j + 1; k < n; k++) t -= R[ri + k] * R[rj + k];
      R[ri + j] = t / d;
    }
  }
  return R;
}

/** U = R⁻¹ [n, n] of an upper triangular R with a nonzero diagonal. */
function upperInverse(R: Float64Array, n: number): Float64Array {
  // Row by row from the bottom: U[i][j] = −(Σ_{k=i+1..j} R[i][k] U[k][j]) / R[i][i].
  const U = new Float64Array(n * n);
  const acc = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    const ri = i * n;
    acc.fill(0, i + 1);
    for (let k = i + 1; k < n; k++) {
      const r = R[ri + k];
      if (r === 0) continue;
      const uk = k * n;
      for (let j = k; j < n; j++) acc[j] += r * U[uk + j];
    }
    const dinv = 1 / R[ri + i];
    U[ri + i] = dinv;
    for (let j = i + 1; j < n; j++) U[ri + j] = -acc[j] * dinv;
  }
  return U;
}

/**
 * C = A·B for A [m, k] and B [k, n], row-major float64: the matrix product the blocked solver hands
 * out (onnxruntime's float64 MatMul on the calibration pass, src/engine/ort/blocks.ts); `matMulJs` is
 * its naive twin.
 */
export type MatMul64 = (a: Float64Array, m: number, k: number, b: Float64Array, n: number) => Promise<Float64Array>;

/** The naive twin of MatMul64: the triple loop, each entry summed over k in order. */
export const matMulJs: MatMul64 = (a, m, k, b, n) => {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let t = 0; t < k; t++) {
      const x = a[i * k + t];
      if (x === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] += x * b[t * n + j];
    }
  }
  return Promise.resolve(c);
};

/** Rows r0..r1−1, columns c0..c1−1 of M [·, n], as a contiguous [r1−r0, c1−c0] copy. */
function sub(M: Float64Array, n: number, r0: number, r1: number, c0: number, c1: number): Float64Array {
  const w = c1 - c0;
  const out = new Float64Array((r1 - r0) * w);
  for (let r = r0; r < r1; r++) out.set(M.subarray(r * n + c0, r * n + c1), (r - r0) * w);
  return out;
}

/** Writes `x` [rows, w] into M [·, n] at row r0, column c0. */
function put(M: Float64Array, n: number, r0: number, c0: number, x: Float64Array, w: number): void {
  const rows = x.length / w;
  for (let r = 0; r < rows; r++) M.set(x.subarray(r * w, (r + 1) * w), (r0 + r) * n + c0);
}

/**
 * upperCholeskyOfInverse by blocks of `block` columns, the O(n³) work in `matmul`'s products: R (H = R Rᵀ)
 * block column by block column from the last, each block's diagonal by reversedCholesky and the rows above
 * it through the inverse of that diagonal block; then U = R⁻¹ block row by block row from the bottom,
 * U[I, after] = −R_II⁻¹ · (R[I, after] · U[after, after]). The products run over whole rows where the
 * entries left out are still zero (no copies of the trailing blocks, about n³/2 multiply-adds each).
 * Equal to the unblocked U to rounding (tested); at n ≤ block it is the unblocked computation itself.
 */
export async function upperCholeskyOfInverseBlocked(
  H: Float64Array,
  n: number,
  matmul: MatMul64,
  name = 'weight',
  block = DEFAULT_BLOCK_SIZE,
): Promise<Float64Array> {
  if (n <= block) return upperCholeskyOfInverse(H, n, name);
  const R = new Float64Array(n * n);
  for (let j1 = n; j1 > 0;) {
    const j0 = Math.max(0, j1 - block);
    const bb = j1 - j0;
    // S = H[0:j1, J] − R[0:j1, after] · R[J, after]ᵀ, as R[0:j1, :] · R[J, :]ᵀ: the columns of R before
    // `after` are still zero, so the whole rows (contiguous, no copy) give the same sums
    const S = sub(H, n, 0, j1, j0, j1);
    if (j1 < n) {
      const RJt = new Float64Array(n * bb); // R[J, :]ᵀ [n, bb]
      for (let r = 0; r < bb; r++) for (let k = j1; k < n; k++) RJt[k * bb + r] = R[(j0 + r) * n + k];
      const C = await matmul(R.subarray(0, j1 * n), j1, n, RJt, bb);
      for (let k = 0; k < S.length; k++) S[k] -= C[k];
    }
    const RJJ = reversedCholesky(S.subarray(j0 * bb), bb, name, j0);
    put(R, n, j0, j0, RJJ, bb);
    if (j0 > 0) {
      // R[0:j0, J] = S[0:j0, :] · R_JJ⁻ᵀ
      const inv = upperInverse(RJJ, bb);
      const invT = new Float64Array(bb * bb);
      for (let r = 0; r < bb; r++) for (let c = 0; c < bb; c++) invT[c * bb + r] = inv[r * bb + c];
      put(R, n, 0, j0, await matmul(S.subarray(0, j0 * bb), j0, bb, invT, bb), bb);
    }
    j1 = j0;
  }
  const U = new Float64Array(n * n);
  for (let i1 = n; i1 > 0;) {
    const i0 = Math.max(0, i1 - block);
    const bb = i1 - i0;
    const UII = upperInverse(sub(R, n, i0, i1, i0, i1), bb);
    if (i1 < n) {
      // R[I, after] · U[after, :]: U's rows after I are contiguous and zero left of `after`
      const a = n - i1;
      const Y = await matmul(sub(R, n, i0, i1, i1, n), bb, a, U.subarray(i1 * n), n);
      const Z = await matmul(UII, bb, bb, Y, n); // [bb, n], the columns from i1 on wanted
      for (let r = 0; r < bb; r++) for (let j = i1; j < n; j++) U[(i0 + r) * n + j] = -Z[r * n + j];
    }
    put(U, n, i0, i0, UII, bb);
    i1 = i0;
  }
  return U;
}

function notPositiveDefinite(name: string, j: number): Error {
  return new ConfigError(
    `GPTQ: the calibration Hessian of ${name} is not positive definite (pivot ${j}); use more calibration tokens or raise the dampening`,
  );
}

/** Lower Cholesky factor L (A = L Lᵀ) of a symmetric positive-definite A [n, n]. */
function choleskyLower(A: Float64Array, n: number, name: string): Float64Array {
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let s = A[j * n + j];
    for (let k = 0; k < j; k++) s -= L[j * n + k] * L[j * n + k];
    if (!(s > 0)) throw notPositiveDefinite(name, j);
    const d = Math.sqrt(s);
    L[j * n + j] = d;
    for (let i = j + 1; i < n; i++) {
      let t = A[i * n + j];
      for (let k = 0; k < j; k++) t -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = t / d;
    }
  }
  return L;
}

/** The naive twin: L = chol(H); H⁻¹ by solving L Lᵀ X = I column by column; U = chol(H⁻¹)ᵀ. */
export function upperCholeskyOfInverseNaive(H: Float64Array, n: number, name = 'weight'): Float64Array {
  const L = choleskyLower(H, n, name);
  const Hinv = new Float64Array(n * n);
  const y = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    for (let i = 0; i < n; i++) {
      let s = i === c ? 1 : 0;
      for (let k = 0; k < i; k++) s -= L[i * n + k] * y[k];
      y[i] = s / L[i * n + i];
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = y[i];
      for (let k = i + 1; k < n; k++) s -= L[k * n + i] * Hinv[k * n + c];
      Hinv[i * n + c] = s / L[i * n + i];
    }
  }
  // symmetrise the rounding, then the lower factor of H⁻¹ transposed is U (H⁻¹ = (L₂)(L₂)ᵀ = UᵀU)
  for (let a = 0; a < n; a++)
    for (let b = a + 1; b < n; b++) Hinv[a * n + b] = Hinv[b * n + a] = (Hinv[a * n + b] + Hinv[b * n + a]) / 2;
  const L2 = choleskyLower(Hinv, n, name);
  const U = new Float64Array(n * n);
  for (let a = 0; a < n; a++) for (let b = a; b < n; b++) U[a * n + b] = L2[b * n + a];
  return U;
}

// ---------------------------------------------------------------- the column loop

/** The grid of one row's group from its float32 values: RTN's min/max, then groupParams. */
function gridOf(
  vals: Float64Array,
  r0: number,
  count: number,
  bits: number,
  scheme: QuantSpec['scheme'],
): { scale: number; zero: number } {
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < count; k++) {
    const v = f(vals[r0 + k]);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return groupParams(lo, hi, bits, scheme);
}

interface ColumnProblem {
  /** [out, n] float64, updated in place: columns in processing order. */
  readonly Wf: Float64Array;
  /** [n, n] upper Cholesky factor of H⁻¹, in processing order. */
  readonly U: Float64Array;
  readonly out: number;
  readonly n: number;
  readonly bits: number;
  readonly scheme: QuantSpec['scheme'];
  readonly groupSize: number;
  readonly numGroups: number;
  /** perm[k] = natural column processed at position k, or null for natural order. */
  readonly perm: Int32Array | null;
  /** [out, numGroups] grids fixed before the loop (act-order's static groups), or null. */
  readonly staticScales: Float32Array | null;
  readonly staticZeros: Int32Array | null;
}

interface ColumnResult {
  /** [out, n] levels at natural column positions. */
  readonly levels: Int32Array;
  readonly scales: Float32Array;
  readonly zeros: Int32Array;
}

function quantLimits(bits: number, scheme: QuantSpec['scheme']): [number, number] {
  return scheme === 'asym' ? [0, 2 ** bits - 1] : [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1];
}

/** The end of a lazy block b0..b1−1 with columns after it: Wf[:, b1:] −= err [out, b1−b0] · U[b0:b1, b1:]. */
interface TailUpdate {
  readonly err: Float64Array;
  readonly b0: number;
  readonly b1: number;
}

/**
 * The lazy-block column loop, handing each block's update of the columns after it to the caller (who
 * applies it before asking for the next block). Returns levels, scales and zeros; Wf holds the updated
 * (unquantised) weights afterwards.
 */
function* columnBlocks(p: ColumnProblem, blockSize: number): Generator<TailUpdate, ColumnResult, void> {
  const { Wf, U, out, n, bits, scheme, groupSize: g, numGroups, perm, staticScales, staticZeros } = p;
  const [qlo, qhi] = quantLimits(bits, scheme);
  const levels = new Int32Array(out * n);
  const scales = staticScales ? Float32Array.from(staticScales) : new Float32Array(out * numGroups);
  const zeros = staticZeros ? Int32Array.from(staticZeros) : new Int32Array(out * numGroups);
  const sc = new Float64Array(out);
  const zr = new Float64Array(out);
  for (let b0 = 0; b0 < n;) {
    let b1 = Math.min(n, b0 + blockSize);
    if (!staticScales) {
      // the last group start inside the block, if that group runs past the block's end, starts the next block
      const s = Math.floor((b1 - 1) / g) * g;
      if (s > b0 && s + g > b1 && b1 < n) b1 = s;
    }
    const bw = b1 - b0;
    const err = new Float64Array(out * bw);
    for (let i = b0; i < b1; i++) {
      const col = perm ? perm[i] : i;
      const grp = Math.floor(col / g);
      if (!staticScales && i % g === 0) {
        const count = Math.min(g, n - i);
        for (let r = 0; r < out; r++) {
          const gp = gridOf(Wf, r * n + i, count, bits, scheme);
          scales[r * numGroups + grp] = gp.scale;
          zeros[r * numGroups + grp] = gp.zero;
        }
      }
      for (let r = 0; r < out; r++) {
        sc[r] = scales[r * numGroups + grp];
        zr[r] = zeros[r * numGroups + grp];
      }
      const ui = i * n;
      const d = U[ui + i];
      for (let r = 0; r < out; r++) {
        const w = Wf[r * n + i];
        let q = roundHalfEven(f(f(w) / sc[r])) + zr[r];
        q = q < qlo ? qlo : q > qhi ? qhi : q;
        levels[r * n + col] = q;
        const e = (w - f((q - zr[r]) * sc[r])) / d;
        err[r * bw + (i - b0)] = e;
      }
      // the block's later columns, four rows at a time sharing each U[i][j]; every weight receives the
      // same subtraction as one row at a time would give it (e = 0 subtracts an exact zero)
      const ic = i - b0; // column i's errors: err[r·bw + ic]
      let r = 0;
      for (; r + 4 <= out; r += 4) {
        const e0 = err[r * bw + ic];
        const e1 = err[(r + 1) * bw + ic];
        const e2 = err[(r + 2) * bw + ic];
        const e3 = err[(r + 3) * bw + ic];
        const r0 = r * n;
        const r1 = r0 + n;
        const r2 = r1 + n;
        const r3 = r2 + n;
        for (let j = i + 1; j < b1; j++) {
          const u = U[ui + j];
          Wf[r0 + j] -= e0 * u;
          Wf[r1 + j] -= e1 * u;
          Wf[r2 + j] -= e2 * u;
          Wf[r3 + j] -= e3 * u;
        }
      }
      for (; r < out; r++) {
        const e = err[r * bw + ic];
        if (e === 0) continue;
        const rw = r * n;
        for (let j = i + 1; j < b1; j++) Wf[rw + j] -= e * U[ui + j];
      }
    }
    if (b1 < n) yield { err, b0, b1 };
    b0 = b1;
  }
  return { levels, scales, zeros };
}

/** The lazy-block column loop with each block's update in TypeScript: bit-identical to gptqColumnsNaive. */
export function gptqColumns(p: ColumnProblem, blockSize = DEFAULT_BLOCK_SIZE): ColumnResult {
  const { Wf, U, out, n } = p;
  const steps = columnBlocks(p, blockSize);
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done) return step.value;
    const { err, b0, b1 } = step.value;
    const bw = b1 - b0;
    // the columns after the block receive its errors, in ascending i as the plain loop would give them
    for (let r = 0; r < out; r++) {
      const rw = r * n;
      let k = 0;
      // four block columns at a time; the subtractions stay in ascending i, left to right
      for (; k + 4 <= bw; k += 4) {
        const e0 = err[r * bw + k];
        const e1 = err[r * bw + k + 1];
        const e2 = err[r * bw + k + 2];
        const e3 = err[r * bw + k + 3];
        const u0 = (b0 + k) * n;
        const u1 = u0 + n;
        const u2 = u1 + n;
        const u3 = u2 + n;
        for (let j = b1; j < n; j++)
          Wf[rw + j] = Wf[rw + j] - e0 * U[u0 + j] - e1 * U[u1 + j] - e2 * U[u2 + j] - e3 * U[u3 + j];
      }
      for (; k < bw; k++) {
        const e = err[r * bw + k];
        if (e === 0) continue;
        const uk = (b0 + k) * n;
        for (let j = b1; j < n; j++) Wf[rw + j] -= e * U[uk + j];
      }
    }
  }
}

/**
 * The lazy-block column loop with each block's update as one matrix product (the paper's lazy batch
 * update): a weight receives a block's errors summed, not one by one, so the result equals
 * gptqColumns' to rounding, not bit for bit (levels tested equal on random problems; golden data).
 */
export async function gptqColumnsWith(
  p: ColumnProblem,
  matmul: MatMul64,
  blockSize = DEFAULT_BLOCK_SIZE,
): Promise<ColumnResult> {
  const { Wf, U, out, n } = p;
  const steps = columnBlocks(p, blockSize);
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done) return step.value;
    const { err, b0, b1 } = step.value;
    const a = n - b1;
    const C = await matmul(err, out, b1 - b0, sub(U, n, b0, b1, b1, n), a);
    for (let r = 0; r < out; r++) for (let j = 0; j < a; j++) Wf[r * n + b1 + j] -= C[r * a + j];
  }
}

/** The naive twin of gptqColumns: the plain column loop of the definition, every update at once. */
export function gptqColumnsNaive(p: ColumnProblem): ColumnResult {
  const { Wf, U, out, n, bits, scheme, groupSize: g, numGroups, perm, staticScales, staticZeros } = p;
  const [qlo, qhi] = quantLimits(bits, scheme);
  const levels = new Int32Array(out * n);
  const scales = staticScales ? Float32Array.from(staticScales) : new Float32Array(out * numGroups);
  const zeros = staticZeros ? Int32Array.from(staticZeros) : new Int32Array(out * numGroups);
  for (let i = 0; i < n; i++) {
    const col = perm ? perm[i] : i;
    const grp = Math.floor(col / g);
    for (let r = 0; r < out; r++) {
      if (!staticScales && i % g === 0) {
        const gp = gridOf(Wf, r * n + i, Math.min(g, n - i), bits, scheme);
        scales[r * numGroups + grp] = gp.scale;
        zeros[r * numGroups + grp] = gp.zero;
      }
      const s = scales[r * numGroups + grp];
      const z = zeros[r * numGroups + grp];
      const w = Wf[r * n + i];
      const q = Math.min(qhi, Math.max(qlo, roundHalfEven(f(f(w) / s)) + z));
      levels[r * n + col] = q;
      const e = (w - f((q - z) * s)) / U[i * n + i];
      for (let j = i + 1; j < n; j++) Wf[r * n + j] -= e * U[i * n + j];
    }
  }
  return { levels, scales, zeros };
}

// ---------------------------------------------------------------- one weight

/** W as float64 [out, in] from the stored layout. */
function toOutIn(w: Tensor, layout: Layout, inDim: number, outDim: number): Float64Array {
  const W = new Float64Array(outDim * inDim);
  const d = w.data;
  if (layout === 'out_in') for (let k = 0; k < d.length; k++) W[k] = d[k];
  else for (let i = 0; i < inDim; i++) for (let o = 0; o < outDim; o++) W[o * inDim + i] = d[i * outDim + o];
  return W;
}

/** The order act-order processes columns in: descending diag, ties by index. */
export function actOrderPermutation(H: Float64Array, n: number): Int32Array {
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => H[b * n + b] - H[a * n + a] || a - b);
  return Int32Array.from(idx);
}

/** A GPTQ problem ready for its solver: H (dampened, permuted), W (permuted), and how to store the result. */
interface Prepared {
  readonly name: string;
  readonly Hp: Float64Array;
  readonly problem: Omit<ColumnProblem, 'U'>;
  readonly w: Tensor;
  readonly layout: Layout;
  readonly spec: QuantSpec;
  readonly info: GptqInfo;
}

/**
 * GPTQ of `w` (stored layout) from `gram` = Σ x xᵀ [in, in] over `rows` calibration input rows (the
 * sum, not the mean; symmetric). `gram` is not modified. `naive` runs the plain loop and the naive U.
 */
export function quantizeGptq(
  w: Tensor,
  layout: Layout,
  gram: Float64Array,
  rows: number,
  spec: QuantSpec,
  opts: GptqOptions & { naive?: boolean } = {},
): { q: QuantizedTensor; info: GptqInfo } {
  const p = prepareGptq(w, layout, gram, rows, spec, opts);
  const n = p.problem.n;
  const U = opts.naive ? upperCholeskyOfInverseNaive(p.Hp, n, p.name) : upperCholeskyOfInverse(p.Hp, n, p.name);
  const problem = { ...p.problem, U };
  const res = opts.naive ? gptqColumnsNaive(problem) : gptqColumns(problem, opts.blockSize ?? DEFAULT_BLOCK_SIZE);
  return finishGptq(p, res);
}

/**
 * quantizeGptq with the O(n³) and O(out·n²) work as matrix products by `matmul` (onnxruntime's float64
 * MatMul in quantizeModelCalibratedFast): U by blocks (upperCholeskyOfInverseBlocked) and each lazy
 * block's update as one product (gptqColumnsWith). Equal to quantizeGptq to rounding: the golden GPTQ
 * data passes on both.
 */
export async function quantizeGptqWith(
  matmul: MatMul64,
  w: Tensor,
  layout: Layout,
  gram: Float64Array,
  rows: number,
  spec: QuantSpec,
  opts: GptqOptions = {},
): Promise<{ q: QuantizedTensor; info: GptqInfo }> {
  const p = prepareGptq(w, layout, gram, rows, spec, opts);
  const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  const U = await upperCholeskyOfInverseBlocked(p.Hp, p.problem.n, matmul, p.name, blockSize);
  return finishGptq(p, await gptqColumnsWith({ ...p.problem, U }, matmul, blockSize));
}

function prepareGptq(
  w: Tensor,
  layout: Layout,
  gram: Float64Array,
  rows: number,
  spec: QuantSpec,
  opts: GptqOptions,
): Prepared {
  checkSpec(spec);
  const name = opts.name ?? 'weight';
  assertFinite(w, name);
  const { inDim: n, outDim: out } = dimsOf(w.shape, layout);
  if (gram.length !== n * n) throw new Error(`GPTQ ${name}: Gram matrix holds ${gram.length} values, not ${n}×${n}`);
  if (!(rows > 0)) throw new ConfigError(`GPTQ ${name}: no calibration rows; give calibration text`);
  const percDamp = opts.percDamp ?? DEFAULT_PERCDAMP;
  const g = resolveGroupSize(spec.groupSize, n);
  const numGroups = Math.ceil(n / g);

  const H = new Float64Array(n * n);
  const c = 2 / rows;
  for (let k = 0; k < H.length; k++) H[k] = c * gram[k];
  const W = toOutIn(w, layout, n, out);
  let deadInputs = 0;
  for (let j = 0; j < n; j++) {
    if (H[j * n + j] === 0) {
      deadInputs++;
      H[j * n + j] = 1;
      for (let r = 0; r < out; r++) W[r * n + j] = 0;
    }
  }
  const perm = opts.actOrder ? actOrderPermutation(H, n) : null;
  let trace = 0;
  for (let j = 0; j < n; j++) trace += H[j * n + j];
  const damp = (percDamp * trace) / n;
  for (let j = 0; j < n; j++) H[j * n + j] += damp;

  let staticScales: Float32Array | null = null;
  let staticZeros: Int32Array | null = null;
  let Wp = W;
  let Hp = H;
  if (perm) {
    // static groups: each natural group's grid from the weights before any update
    staticScales = new Float32Array(out * numGroups);
    staticZeros = new Int32Array(out * numGroups);
    for (let r = 0; r < out; r++) {
      for (let gi = 0; gi < numGroups; gi++) {
        const gp = gridOf(W, r * n + gi * g, Math.min(g, n - gi * g), spec.bits, spec.scheme);
        staticScales[r * numGroups + gi] = gp.scale;
        staticZeros[r * numGroups + gi] = gp.zero;
      }
    }
    Wp = new Float64Array(out * n);
    for (let r = 0; r < out; r++) for (let k = 0; k < n; k++) Wp[r * n + k] = W[r * n + perm[k]];
    Hp = new Float64Array(n * n);
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) Hp[a * n + b] = H[perm[a] * n + perm[b]];
  }
  const problem: Omit<ColumnProblem, 'U'> = {
    Wf: Wp,
    out,
    n,
    bits: spec.bits,
    scheme: spec.scheme,
    groupSize: g,
    numGroups,
    perm,
    staticScales,
    staticZeros,
  };
  return { name, Hp, problem, w, layout, spec, info: { deadInputs, damp } };
}

/** The solver's result back in the stored layout and the record types of rtn.ts. */
function finishGptq(p: Prepared, res: ColumnResult): { q: QuantizedTensor; info: GptqInfo } {
  const { w, layout, spec, info } = p;
  const { n, out, groupSize: g, numGroups } = p.problem;
  const total = n * out;
  const levels = spec.scheme === 'sym' ? new Int8Array(total) : new Uint8Array(total);
  for (let r = 0; r < out; r++) {
    for (let i = 0; i < n; i++) levels[layout === 'out_in' ? r * n + i : i * out + r] = res.levels[r * n + i];
  }
  const q: QuantizedTensor = {
    shape: [w.shape[0], w.shape[1]],
    layout,
    inDim: n,
    outDim: out,
    bits: spec.bits,
    scheme: spec.scheme,
    groupSize: g,
    numGroups,
    levels,
    scales: res.scales,
    zeros: spec.scheme === 'asym' ? Uint8Array.from(res.zeros) : null,
    kept: null,
  };
  return { q, info };
}

/**
 * Σ_r d_rᵀ G d_r for a weight difference D [out, in] (row-major, float64) and a symmetric G [in, in]:
 * the output error of D on the calibration rows whose Gram matrix is G. `gramQuadratic` is the plain
 * loop; the calibration pass on onnxruntime offers the same product as float64 matrix products
 * (src/engine/ort/blocks.ts), equal to rounding (tested), for the wide shapes where O(out·in²) per
 * call is the cost of AWQ's search.
 */
export type GramQuadratic = (d: Float64Array, outDim: number, inDim: number, gram: Float64Array) => Promise<number>;

/** W − Q [out, in] in float64, row-major, from two weights in the stored layout. */
export function weightDiff(
  w: Float32Array,
  q: Float32Array,
  layout: Layout,
  inDim: number,
  outDim: number,
): Float64Array {
  const d = new Float64Array(outDim * inDim);
  for (let r = 0; r < outDim; r++) {
    for (let i = 0; i < inDim; i++) {
      const k = layout === 'out_in' ? r * inDim + i : i * outDim + r;
      d[r * inDim + i] = w[k] - q[k];
    }
  }
  return d;
}

/** Σ_r d_rᵀ G d_r, row by row: G·d_r (skipping zero entries of d_r), then d_r·(G d_r), rows summed in order. */
export function gramQuadratic(d: Float64Array, outDim: number, inDim: number, gram: Float64Array): number {
  const gd = new Float64Array(inDim);
  let total = 0;
  for (let r = 0; r < outDim; r++) {
    const dr = r * inDim;
    gd.fill(0);
    for (let a = 0; a < inDim; a++) {
      const da = d[dr + a];
      if (da === 0) continue;
      const ga = a * inDim;
      for (let b = 0; b < inDim; b++) gd[b] += da * gram[ga + b];
    }
    for (let b = 0; b < inDim; b++) total += d[dr + b] * gd[b];
  }
  return total;
}

/** outputError through `quadratic`: ‖X Wᵀ − X Qᵀ‖² from the Gram matrix, W and Q in the stored layout. */
export function outputErrorWith(
  quadratic: GramQuadratic,
  w: Float32Array,
  q: Float32Array,
  layout: Layout,
  inDim: number,
  outDim: number,
  gram: Float64Array,
): Promise<number> {
  return quadratic(weightDiff(w, q, layout, inDim, outDim), outDim, inDim, gram);
}

/** gramQuadratic as a GramQuadratic (the default where no faster kernel is given). */
export const gramQuadraticJs: GramQuadratic = (d, outDim, inDim, gram) =>
  Promise.resolve(gramQuadratic(d, outDim, inDim, gram));

/**
 * Output error ‖X Wᵀ − X Qᵀ‖² over the calibration rows, from their Gram matrix Σ x xᵀ [in, in]:
 * Σ_r d_rᵀ G d_r with d_r = row r of W − Q (float64). W and Q in the stored layout.
 */
export function outputError(
  w: Float32Array,
  q: Float32Array,
  layout: Layout,
  inDim: number,
  outDim: number,
  gram: Float64Array,
): number {
  return gramQuadratic(weightDiff(w, q, layout, inDim, outDim), outDim, inDim, gram);
}
