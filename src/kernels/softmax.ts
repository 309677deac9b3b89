// Softmax and log-softmax over rows of a [T, N] array, the maximum subtracted first so that no
// exp overflows (±300 logits are fine). Sums in float64. A NaN anywhere in a row makes the whole
// row NaN (as in torch); a +Inf makes it NaN too (Inf − Inf), again as torch does.

/** out[T, N] = softmax(x[T, N]) along N. out may alias x. */
export function softmax(out: Float32Array, x: Float32Array, T: number, N: number): void {
  for (let t = 0; t < T; t++) {
    const r = t * N;
    let m = -Infinity;
    for (let i = 0; i < N; i++) m = Math.max(m, x[r + i]); // Math.max propagates NaN
    let s = 0;
    for (let i = 0; i < N; i++) {
      const e = Math.exp(x[r + i] - m);
      out[r + i] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let i = 0; i < N; i++) out[r + i] *= inv;
  }
}

export function softmaxNaive(out: Float32Array, x: Float32Array, T: number, N: number): void {
  for (let t = 0; t < T; t++) {
    const row = Array.from(x.subarray(t * N, t * N + N));
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, v) => a + v, 0);
    for (let i = 0; i < N; i++) out[t * N + i] = e[i] / s;
  }
}

/** log Σ exp(x[i]) over one row, in float64, with the maximum subtracted. */
export function logSumExp(x: Float32Array, offset: number, N: number): number {
  let m = -Infinity;
  for (let i = 0; i < N; i++) m = Math.max(m, x[offset + i]);
  if (m === -Infinity) return -Infinity; // all −Inf: an empty distribution
  let s = 0;
  for (let i = 0; i < N; i++) s += Math.exp(x[offset + i] - m);
  return m + Math.log(s);
}

/** out[T, N] = log softmax(x[T, N]) along N. out may alias x. */
export function logSoftmax(out: Float32Array, x: Float32Array, T: number, N: number): void {
  for (let t = 0; t < T; t++) {
    const r = t * N;
    const lse = logSumExp(x, r, N);
    for (let i = 0; i < N; i++) out[r + i] = x[r + i] - lse;
  }
}

export function logSoftmaxNaive(out: Float32Array, x: Float32Array, T: number, N: number): void {
  for (let t = 0; t < T; t++) {
    const row = Array.from(x.subarray(t * N, t * N + N));
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    for (let i = 0; i < N; i++) out[t * N + i] = row[i] - lse;
  }
}

/**
 * KL(p ‖ q) in nats of two log-probability rows, float64 sums; p(v) = 0 (log p = −Inf) contributes
 * nothing, p(v) > 0 with q(v) = 0 makes it +Inf. Mathematically KL ≥ 0; rows that do not sum exactly
 * to 1 (float32) can give −1e-9-sized values, returned as 0.
 */
export function klDivergence(
  logP: ArrayLike<number>,
  logQ: ArrayLike<number>,
  offP = 0,
  offQ = 0,
  vocab = logP.length,
): number {
  let kl = 0;
  for (let v = 0; v < vocab; v++) {
    const lp = logP[offP + v];
    if (lp === -Infinity) continue; // 0 · log 0 = 0
    kl += Math.exp(lp) * (lp - logQ[offQ + v]);
  }
  return clampKl(kl);
}

/** A KL divergence with its float rounding below zero (> −1e-6) set to 0. */
export function clampKl(kl: number): number {
  return kl < 0 && kl > -1e-6 ? 0 : kl;
}
