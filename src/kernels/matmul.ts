// Matrix multiplication for linear layers: out[T, outDim] = x[T, inDim] · W (+ bias), for both
// weight layouts a Hugging Face checkpoint stores (src/model/spec.ts):
//   `in_out` (GPT-2 Conv1D) W is [inDim, outDim], y = x·W + b;
//   `out_in` (nn.Linear)     W is [outDim, inDim], y = x·Wᵀ + b.
// The fast kernel is cache-blocked with 4×4 register tiles (in the manner of llm.c's
// matmul_forward; an in_out weight is packed panel by panel into the out_in form first); `matmulNaive` is the plain
// triple loop, kept on purpose as the reference.
// Kernels take the destination first and every size explicitly, and allocate nothing (the panel
// buffer of the in_out path is allocated once and reused).

import { matmulSimd } from './simd.ts';
import type { Layout } from './types.ts';

/** Rows of x handled together (register tile height). */
const TR = 4;
/** Rows of x and of W per cache block for the out_in layout. */
const BLOCK_OUT_IN = 64;

/**
 * out[T, outDim] = x[T, inDim] · W + bias. `w` is [inDim, outDim] for `in_out`, [outDim, inDim] for
 * `out_in`; `bias` is [outDim] or null. `out` must not alias `x`.
 */
export function matmul(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  T: number,
  inDim: number,
  outDim: number,
  layout: Layout,
): void {
  checkSizes(out, x, w, bias, T, inDim, outDim);
  // WebAssembly SIMD, the same sums bit for bit (simd.ts)
  if (matmulSimd(out, x, w, bias, T, inDim, outDim, layout)) return;
  if (layout === 'in_out') matmulInOut(out, x, w, bias, T, inDim, outDim);
  else matmulOutIn(out, x, w, bias, T, inDim, outDim);
}

/** The plain triple loop (float64 accumulation): the reference the fast kernel is tested against. */
export function matmulNaive(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  T: number,
  inDim: number,
  outDim: number,
  layout: Layout,
): void {
  checkSizes(out, x, w, bias, T, inDim, outDim);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < outDim; o++) {
      let acc = bias ? bias[o] : 0;
      for (let i = 0; i < inDim; i++) {
        const wv = layout === 'in_out' ? w[i * outDim + o] : w[o * inDim + i];
        acc += x[t * inDim + i] * wv;
      }
      out[t * outDim + o] = acc;
    }
  }
}

function checkSizes(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  T: number,
  inDim: number,
  outDim: number,
): void {
  if (
    x.length < T * inDim ||
    w.length !== inDim * outDim ||
    out.length < T * outDim ||
    (bias !== null && bias.length !== outDim)
  ) {
    throw new Error(
      `matmul: sizes disagree (x ${x.length} for ${T}×${inDim}, w ${w.length} for ${inDim}×${outDim}, out ${out.length}, bias ${bias?.length ?? 'none'})`,
    );
  }
}

// in_out: W columns are strided, so a panel of 64 output columns is first packed into row-major
// [64, inDim] (the out_in form, as BLAS packs panels) and then goes through the same register tile.
// The panel buffer is reused between calls and grows only when a larger one is needed.
let panel = new Float32Array(0);

function matmulInOut(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  T: number,
  inDim: number,
  outDim: number,
): void {
  if (panel.length < BLOCK_OUT_IN * inDim) panel = new Float32Array(BLOCK_OUT_IN * inDim);
  const p = panel;
  for (let ob = 0; ob < outDim; ob += BLOCK_OUT_IN) {
    const n = Math.min(BLOCK_OUT_IN, outDim - ob);
    for (let i = 0; i < inDim; i++) {
      const wr = i * outDim + ob;
      for (let j = 0; j < n; j++) p[j * inDim + i] = w[wr + j];
    }
    // the packed panel is the out_in weight of output columns ob..ob+n
    let t0 = 0;
    for (; t0 + TR <= T; t0 += TR) {
      let j = 0;
      for (; j + 4 <= n; j += 4) tile4x4(out, x, p, bias, t0, j, inDim, outDim, ob);
      for (; j < n; j++) for (let r = 0; r < TR; r++) dotOne(out, x, p, bias, t0 + r, j, inDim, outDim, ob);
    }
    for (; t0 < T; t0++) for (let j = 0; j < n; j++) dotOne(out, x, p, bias, t0, j, inDim, outDim, ob);
  }
}

// out_in: both x rows and W rows are contiguous along the input, so each output is a dot product.
// A 4×4 register tile (16 float64 accumulators) reuses every loaded value four times; blocks of
// 64 rows of x and of W keep both operands in cache.
function matmulOutIn(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  T: number,
  inDim: number,
  outDim: number,
): void {
  for (let tb = 0; tb < T; tb += BLOCK_OUT_IN) {
    const tEnd = Math.min(T, tb + BLOCK_OUT_IN);
    for (let ob = 0; ob < outDim; ob += BLOCK_OUT_IN) {
      const oEnd = Math.min(outDim, ob + BLOCK_OUT_IN);
      let t0 = tb;
      for (; t0 + TR <= tEnd; t0 += TR) {
        let o0 = ob;
        for (; o0 + 4 <= oEnd; o0 += 4) tile4x4(out, x, w, bias, t0, o0, inDim, outDim, 0);
        for (; o0 < oEnd; o0++) for (let r = 0; r < TR; r++) dotOne(out, x, w, bias, t0 + r, o0, inDim, outDim, 0);
      }
      for (; t0 < tEnd; t0++) for (let o = ob; o < oEnd; o++) dotOne(out, x, w, bias, t0, o, inDim, outDim, 0);
    }
  }
}

// One output: row t of x against weight row o (out_in form), written to column colBase + o.
function dotOne(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  t: number,
  o: number,
  inDim: number,
  outDim: number,
  colBase: number,
): void {
  const xr = t * inDim;
  const wr = o * inDim;
  let acc = 0;
  for (let i = 0; i < inDim; i++) acc += x[xr + i] * w[wr + i];
  const c = colBase + o;
  out[t * outDim + c] = acc + (bias ? bias[c] : 0);
}

// Rows t0..t0+3 of x against weight rows o0..o0+3 (out_in form), written to columns colBase + o0…
function tile4x4(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  t0: number,
  o0: number,
  inDim: number,
  outDim: number,
  colBase: number,
): void {
  const x0 = t0 * inDim;
  const x1 = x0 + inDim;
  const x2 = x1 + inDim;
  const x3 = x2 + inDim;
  const w0 = o0 * inDim;
  const w1 = w0 + inDim;
  const w2 = w1 + inDim;
  const w3 = w2 + inDim;
  let a00 = 0,
    a01 = 0,
    a02 = 0,
    a03 = 0;
  let a10 = 0,
    a11 = 0,
    a12 = 0,
    a13 = 0;
  let a20 = 0,
    a21 = 0,
    a22 = 0,
    a23 = 0;
  let a30 = 0,
    a31 = 0,
    a32 = 0,
    a33 = 0;
  for (let i = 0; i < inDim; i++) {
    const p0 = x[x0 + i];
    const p1 = x[x1 + i];
    const p2 = x[x2 + i];
    const p3 = x[x3 + i];
    const q0 = w[w0 + i];
    const q1 = w[w1 + i];
    const q2 = w[w2 + i];
    const q3 = w[w3 + i];
    a00 += p0 * q0;
    a01 += p0 * q1;
    a02 += p0 * q2;
    a03 += p0 * q3;
    a10 += p1 * q0;
    a11 += p1 * q1;
    a12 += p1 * q2;
    a13 += p1 * q3;
    a20 += p2 * q0;
    a21 += p2 * q1;
    a22 += p2 * q2;
    a23 += p2 * q3;
    a30 += p3 * q0;
    a31 += p3 * q1;
    a32 += p3 * q2;
    a33 += p3 * q3;
  }
  const c = colBase + o0;
  const b0 = bias ? bias[c] : 0;
  const b1 = bias ? bias[c + 1] : 0;
  const b2 = bias ? bias[c + 2] : 0;
  const b3 = bias ? bias[c + 3] : 0;
  let r = t0 * outDim + c;
  out[r] = a00 + b0;
  out[r + 1] = a01 + b1;
  out[r + 2] = a02 + b2;
  out[r + 3] = a03 + b3;
  r += outDim;
  out[r] = a10 + b0;
  out[r + 1] = a11 + b1;
  out[r + 2] = a12 + b2;
  out[r + 3] = a13 + b3;
  r += outDim;
  out[r] = a20 + b0;
  out[r + 1] = a21 + b1;
  out[r + 2] = a22 + b2;
  out[r + 3] = a23 + b3;
  r += outDim;
  out[r] = a30 + b0;
  out[r + 1] = a31 + b1;
  out[r + 2] = a32 + b2;
  out[r + 3] = a33 + b3;
}
