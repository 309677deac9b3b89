// Forward and backward kernels of the trainer, written out by hand in the manner of llm.c's
// train_gpt2.c: destination first, every size explicit, nothing allocated. They run over Float32Array
// in training and over Float64Array in the gradient checks (FloatArray is either), so the same code
// is both the engine and the thing checked against finite differences.
//
// Every weight matrix is stored [out, in] (nn.Linear layout) inside the trainer; GPT-2's Conv1D
// [in, out] matrices are transposed only when a checkpoint is written or read (see net.ts).
// Reference for the math: llm.c (layernorm, attention, GELU backward), the GPT-NeoX rotary
// "rotate half" convention, and the PyTorch definitions of nn.LayerNorm / F.gelu.
// The forward kernels that equal the engine's come from src/kernels: erf and the two GELUs
// (activations.ts) and the rotary tables (rotary.ts, used by net.ts). Those kept here differ on
// purpose: relu maps NaN and −0 to +0 (the engine's keeps NaN, as torch does), layernormForward
// keeps μ and rstd for the backward pass, rotaryApply also applies the inverse rotation and runs over
// batches, and attention keeps its probabilities.

import { SIMD_MIN_WORK, simdRawTiles } from '../kernels/simd.ts';
import { erf, geluErf, geluTanh } from '../kernels/activations.ts';
import type { FloatArray } from '../kernels/types.ts';

export type { FloatArray };

/**
 * C[M,N] = A[M,K] · B[N,K]ᵀ (+ bias[N]) or, with `accumulate`, C += A·Bᵀ. Both operands are read
 * along K contiguously; a 4×4 register tile reads 8 values for 16 multiply-adds. Float32 operands go
 * through the WebAssembly SIMD tile (src/kernels/simd.ts), about twice as fast and bit-identical.
 */
export function gemmNT(
  C: FloatArray,
  A: FloatArray,
  B: FloatArray,
  bias: FloatArray | null,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  const M4 = M - (M % 4);
  const N4 = N - (N % 4);
  // Float32 operands large enough to repay the copy into WebAssembly memory: the same sums from
  // the SIMD tile (src/kernels/simd.ts, bit-identical), the same epilogue here.
  const S =
    A instanceof Float32Array && B instanceof Float32Array && M4 * N4 * K >= SIMD_MIN_WORK
      ? simdRawTiles(A, B, M4, N4, K)
      : null;
  if (S) {
    for (let i = 0; i < M4; i++) {
      const s = i * N4;
      const o = i * N;
      for (let j = 0; j < N4; j += 4)
        store4(C, o + j, S[s + j], S[s + j + 1], S[s + j + 2], S[s + j + 3], bias, j, accumulate);
      if (N4 < N) for (let j = N4; j < N; j++) cell(C, A, B, bias, i, j, N, K, accumulate);
    }
    for (let i = M4; i < M; i++) for (let j = 0; j < N; j++) cell(C, A, B, bias, i, j, N, K, accumulate);
    return;
  }
  for (let i = 0; i < M4; i += 4) {
    const a0 = i * K,
      a1 = a0 + K,
      a2 = a1 + K,
      a3 = a2 + K;
    for (let j = 0; j < N4; j += 4) {
      const b0 = j * K,
        b1 = b0 + K,
        b2 = b1 + K,
        b3 = b2 + K;
      let c00 = 0,
        c01 = 0,
        c02 = 0,
        c03 = 0,
        c10 = 0,
        c11 = 0,
        c12 = 0,
        c13 = 0;
      let c20 = 0,
        c21 = 0,
        c22 = 0,
        c23 = 0,
        c30 = 0,
        c31 = 0,
        c32 = 0,
        c33 = 0;
      for (let k = 0; k < K; k++) {
        const x0 = A[a0 + k],
          x1 = A[a1 + k],
          x2 = A[a2 + k],
          x3 = A[a3 + k];
        const y0 = B[b0 + k],
          y1 = B[b1 + k],
          y2 = B[b2 + k],
          y3 = B[b3 + k];
        c00 += x0 * y0;
        c01 += x0 * y1;
        c02 += x0 * y2;
        c03 += x0 * y3;
        c10 += x1 * y0;
        c11 += x1 * y1;
        c12 += x1 * y2;
        c13 += x1 * y3;
        c20 += x2 * y0;
        c21 += x2 * y1;
        c22 += x2 * y2;
        c23 += x2 * y3;
        c30 += x3 * y0;
        c31 += x3 * y1;
        c32 += x3 * y2;
        c33 += x3 * y3;
      }
      store4(C, i * N + j, c00, c01, c02, c03, bias, j, accumulate);
      store4(C, (i + 1) * N + j, c10, c11, c12, c13, bias, j, accumulate);
      store4(C, (i + 2) * N + j, c20, c21, c22, c23, bias, j, accumulate);
      store4(C, (i + 3) * N + j, c30, c31, c32, c33, bias, j, accumulate);
    }
    for (let j = N4; j < N; j++) for (let r = i; r < i + 4; r++) cell(C, A, B, bias, r, j, N, K, accumulate);
  }
  for (let i = M4; i < M; i++) for (let j = 0; j < N; j++) cell(C, A, B, bias, i, j, N, K, accumulate);
}

function store4(
  C: FloatArray,
  o: number,
  v0: number,
  v1: number,
  v2: number,
  v3: number,
  bias: FloatArray | null,
  j: number,
  acc: boolean,
): void {
  if (bias) {
    v0 += bias[j];
    v1 += bias[j + 1];
    v2 += bias[j + 2];
    v3 += bias[j + 3];
  }
  if (acc) {
    C[o] += v0;
    C[o + 1] += v1;
    C[o + 2] += v2;
    C[o + 3] += v3;
  } else {
    C[o] = v0;
    C[o + 1] = v1;
    C[o + 2] = v2;
    C[o + 3] = v3;
  }
}

function cell(
  C: FloatArray,
  A: FloatArray,
  B: FloatArray,
  bias: FloatArray | null,
  i: number,
  j: number,
  N: number,
  K: number,
  acc: boolean,
): void {
  let s = bias ? bias[j] : 0;
  const a = i * K,
    b = j * K;
  for (let k = 0; k < K; k++) s += A[a + k] * B[b + k];
  if (acc) C[i * N + j] += s;
  else C[i * N + j] = s;
}

/** The slow, obvious twin of gemmNT, kept as the reference in tests. */
export function gemmNTNaive(
  C: FloatArray,
  A: FloatArray,
  B: FloatArray,
  bias: FloatArray | null,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) cell(C, A, B, bias, i, j, N, K, accumulate);
}

/** out[C,R] = inp[R,C]ᵀ */
export function transpose(out: FloatArray, inp: FloatArray, R: number, C: number): void {
  for (let r = 0; r < R; r++) {
    const row = r * C;
    for (let c = 0; c < C; c++) out[c * R + r] = inp[row + c];
  }
}

/**
 * Linear layer, W [OUT, IN]: out[N,OUT] = inp[N,IN]·Wᵀ + b.
 */
export function linearForward(
  out: FloatArray,
  inp: FloatArray,
  W: FloatArray,
  b: FloatArray | null,
  N: number,
  IN: number,
  OUT: number,
): void {
  gemmNT(out, inp, W, b, N, OUT, IN, false);
}

/**
 * Backward of linearForward, accumulating into dinp [N,IN] (when given), dW [OUT,IN], db [OUT].
 * scratch must hold max(IN·OUT, N·OUT + N·IN) values.
 */
export function linearBackward(
  dinp: FloatArray | null,
  dW: FloatArray,
  db: FloatArray | null,
  dout: FloatArray,
  inp: FloatArray,
  W: FloatArray,
  N: number,
  IN: number,
  OUT: number,
  scratch: FloatArray,
): void {
  if (dinp) {
    const Wt = scratch.subarray(0, IN * OUT); // [IN, OUT]
    transpose(Wt, W, OUT, IN);
    gemmNT(dinp, dout, Wt, null, N, IN, OUT, true);
  }
  const doutT = scratch.subarray(0, N * OUT); // [OUT, N]
  const inpT = scratch.subarray(N * OUT, N * OUT + N * IN); // [IN, N]
  transpose(doutT, dout, N, OUT);
  transpose(inpT, inp, N, IN);
  gemmNT(dW, doutT, inpT, null, OUT, IN, N, true);
  if (db) {
    for (let o = 0; o < OUT; o++) {
      let s = 0;
      const r = o * N;
      for (let n = 0; n < N; n++) s += doutT[r + n];
      db[o] += s;
    }
  }
}

/** LayerNorm over the last dim (biased variance): out = (x−μ)·rstd·w + b, keeping μ and rstd [N]. */
export function layernormForward(
  out: FloatArray,
  mean: FloatArray,
  rstd: FloatArray,
  inp: FloatArray,
  w: FloatArray,
  b: FloatArray,
  N: number,
  C: number,
  eps: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let m = 0;
    for (let i = 0; i < C; i++) m += inp[o + i];
    m /= C;
    let v = 0;
    for (let i = 0; i < C; i++) {
      const d = inp[o + i] - m;
      v += d * d;
    }
    v /= C;
    const s = 1 / Math.sqrt(v + eps);
    for (let i = 0; i < C; i++) out[o + i] = (inp[o + i] - m) * s * w[i] + b[i];
    mean[n] = m;
    rstd[n] = s;
  }
}

/** Backward of layernormForward (llm.c's form), accumulating into dinp, dw, db. */
export function layernormBackward(
  dinp: FloatArray,
  dw: FloatArray,
  db: FloatArray,
  dout: FloatArray,
  inp: FloatArray,
  w: FloatArray,
  mean: FloatArray,
  rstd: FloatArray,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    const m = mean[n];
    const s = rstd[n];
    let dnormMean = 0;
    let dnormNormMean = 0;
    for (let i = 0; i < C; i++) {
      const xhat = (inp[o + i] - m) * s;
      const dnorm = w[i] * dout[o + i];
      dnormMean += dnorm;
      dnormNormMean += dnorm * xhat;
    }
    dnormMean /= C;
    dnormNormMean /= C;
    for (let i = 0; i < C; i++) {
      const xhat = (inp[o + i] - m) * s;
      const dnorm = w[i] * dout[o + i];
      db[i] += dout[o + i];
      dw[i] += xhat * dout[o + i];
      dinp[o + i] += (dnorm - dnormMean - xhat * dnormNormMean) * s;
    }
  }
}

export type TrainActivation = 'gelu_tanh' | 'gelu_erf' | 'relu';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

export function activationForward(out: FloatArray, inp: FloatArray, n: number, act: TrainActivation): void {
  if (act === 'relu') {
    for (let i = 0; i < n; i++) out[i] = inp[i] > 0 ? inp[i] : 0;
  } else if (act === 'gelu_tanh') {
    geluTanh(out, inp, n);
  } else {
    geluErf(out, inp, n);
  }
}

/** dinp += act'(inp) · dout */
export function activationBackward(
  dinp: FloatArray,
  inp: FloatArray,
  dout: FloatArray,
  n: number,
  act: TrainActivation,
): void {
  if (act === 'relu') {
    for (let i = 0; i < n; i++) if (inp[i] > 0) dinp[i] += dout[i];
  } else if (act === 'gelu_tanh') {
    for (let i = 0; i < n; i++) {
      const x = inp[i];
      const u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
      const t = Math.tanh(u);
      const sech2 = 1 - t * t;
      const grad = 0.5 * (1 + t) + 0.5 * x * sech2 * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
      dinp[i] += grad * dout[i];
    }
  } else {
    for (let i = 0; i < n; i++) {
      const x = inp[i];
      const grad = 0.5 * (1 + erf(x * INV_SQRT_2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
      dinp[i] += grad * dout[i];
    }
  }
}

/**
 * Rotary embedding, rotate-half convention on the first R dims of every head, in place.
 * x [B, T, NH, HS] (a head is HS contiguous values), position of row t is t.
 * cos/sin tables [T, R/2]. `inverse` applies the transposed rotation (the backward pass).
 */
export function rotaryApply(
  x: FloatArray,
  cos: FloatArray,
  sin: FloatArray,
  B: number,
  T: number,
  NH: number,
  HS: number,
  R: number,
  inverse: boolean,
): void {
  const half = R / 2;
  const sgn = inverse ? -1 : 1;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const tab = t * half;
      for (let h = 0; h < NH; h++) {
        const o = ((b * T + t) * NH + h) * HS;
        for (let i = 0; i < half; i++) {
          const c = cos[tab + i];
          const s = sgn * sin[tab + i];
          const x1 = x[o + i];
          const x2 = x[o + i + half];
          x[o + i] = x1 * c - x2 * s;
          x[o + i + half] = x2 * c + x1 * s;
        }
      }
    }
  }
}

/**
 * Causal multi-head attention. q, k, v, out [B, T, NH, HS]; att [B, NH, T, T] keeps the softmax
 * probabilities (row t uses columns 0..t) for the backward pass.
 */
export function attentionForward(
  out: FloatArray,
  att: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  B: number,
  T: number,
  NH: number,
  HS: number,
): void {
  const C = NH * HS;
  const scale = 1 / Math.sqrt(HS);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * C + h * HS;
        const ao = ((b * NH + h) * T + t) * T;
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          const ko = (b * T + s) * C + h * HS;
          let dot = 0;
          for (let i = 0; i < HS; i++) dot += q[qo + i] * k[ko + i];
          dot *= scale;
          att[ao + s] = dot;
          if (dot > max) max = dot;
        }
        let sum = 0;
        for (let s = 0; s <= t; s++) {
          const e = Math.exp(att[ao + s] - max);
          att[ao + s] = e;
          sum += e;
        }
        const inv = 1 / sum;
        for (let s = 0; s <= t; s++) att[ao + s] *= inv;
        for (let s = t + 1; s < T; s++) att[ao + s] = 0;
        for (let i = 0; i < HS; i++) out[qo + i] = 0;
        for (let s = 0; s <= t; s++) {
          const p = att[ao + s];
          const vo = (b * T + s) * C + h * HS;
          for (let i = 0; i < HS; i++) out[qo + i] += p * v[vo + i];
        }
      }
    }
  }
}

/** Backward of attentionForward, accumulating into dq, dk, dv. dpre: scratch of T values. */
export function attentionBackward(
  dq: FloatArray,
  dk: FloatArray,
  dv: FloatArray,
  dpre: FloatArray,
  dout: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  att: FloatArray,
  B: number,
  T: number,
  NH: number,
  HS: number,
): void {
  const C = NH * HS;
  const scale = 1 / Math.sqrt(HS);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * C + h * HS;
        const ao = ((b * NH + h) * T + t) * T;
        // datt[s] = dout_t · v_s ; dv_s += p_s · dout_t
        let dot = 0;
        for (let s = 0; s <= t; s++) {
          const vo = (b * T + s) * C + h * HS;
          const p = att[ao + s];
          let d = 0;
          for (let i = 0; i < HS; i++) {
            d += dout[qo + i] * v[vo + i];
            dv[vo + i] += p * dout[qo + i];
          }
          dpre[s] = d;
          dot += p * d;
        }
        // softmax backward: dpre_s = p_s (datt_s − Σ p·datt), then the score scale
        for (let s = 0; s <= t; s++) {
          const g = att[ao + s] * (dpre[s] - dot) * scale;
          const ko = (b * T + s) * C + h * HS;
          for (let i = 0; i < HS; i++) {
            dq[qo + i] += g * k[ko + i];
            dk[ko + i] += g * q[qo + i];
          }
        }
      }
    }
  }
}

/**
 * Softmax cross-entropy over logits [N, V] in place: logits become probabilities; returns the
 * summed loss (nats, float64) over rows whose target is ≥ 0, and writes each row's loss to `losses`.
 */
export function softmaxCrossEntropy(
  logits: FloatArray,
  losses: Float64Array,
  targets: Int32Array,
  N: number,
  V: number,
): number {
  let total = 0;
  for (let n = 0; n < N; n++) {
    const o = n * V;
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (logits[o + i] > max) max = logits[o + i];
    let sum = 0;
    for (let i = 0; i < V; i++) sum += Math.exp(logits[o + i] - max);
    const lse = max + Math.log(sum);
    const tgt = targets[n];
    const loss = tgt >= 0 ? lse - logits[o + tgt] : 0;
    losses[n] = loss;
    total += loss;
    const inv = 1 / sum;
    for (let i = 0; i < V; i++) logits[o + i] = Math.exp(logits[o + i] - max) * inv;
  }
  return total;
}

/** dlogits [N,V] = (probs − onehot(target)) · scale, rows with target < 0 get 0; in place over probs. */
export function crossEntropyBackward(
  probs: FloatArray,
  targets: Int32Array,
  N: number,
  V: number,
  scale: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * V;
    const tgt = targets[n];
    if (tgt < 0) {
      for (let i = 0; i < V; i++) probs[o + i] = 0;
      continue;
    }
    for (let i = 0; i < V; i++) probs[o + i] *= scale;
    probs[o + tgt] -= scale;
  }
}
