// Causal multi-head scaled dot-product attention (Vaswani et al. 2017) for one sequence, with
// grouped-query attention (Ainslie et al. 2023: query head h reads kv head floor(h / (NH/NKV)))
// an optional ALiBi bias slope_h · j on the score of key position j, and an optional sliding window
// (Mistral; Jiang et al. 2023): query t attends key j iff 0 ≤ t − j ≤ window, i.e. window + 1 keys,
// as transformers v4.40 masks it (later versions keep `window` keys).
//   q [T, NH·HS], k and v [T, NKV·HS], out [T, NH·HS]; scratch `att` [≥T] (float64).
// Scores in float64, softmax with the maximum subtracted; position t attends to keys
// max(0, t − window)..t (window = Infinity: 0..t).

/**
 * out[T, NH·HS] = causal attention; `scale` multiplies q·k (usually 1/√HS); slopes [NH] or null;
 * `window` the largest query−key distance attended (Infinity: plain causal).
 */
export function causalAttention(
  out: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  att: Float64Array,
  T: number,
  NH: number,
  NKV: number,
  HS: number,
  scale: number,
  slopes: Float32Array | null,
  window: number,
): void {
  const group = NH / NKV;
  const QW = NH * HS;
  const KW = NKV * HS;
  for (let h = 0; h < NH; h++) {
    const kvh = Math.floor(h / group);
    const slope = slopes ? slopes[h] : 0;
    for (let t = 0; t < T; t++) {
      const qb = t * QW + h * HS;
      const j0 = Math.max(0, t - window);
      let m = -Infinity;
      for (let j = j0; j <= t; j++) {
        const kb = j * KW + kvh * HS;
        let dot = 0;
        for (let d = 0; d < HS; d++) dot += q[qb + d] * k[kb + d];
        const s = dot * scale + slope * j;
        att[j] = s;
        m = Math.max(m, s);
      }
      let sum = 0;
      for (let j = j0; j <= t; j++) {
        const e = Math.exp(att[j] - m);
        att[j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      const ob = t * QW + h * HS;
      for (let d = 0; d < HS; d++) out[ob + d] = 0;
      for (let j = j0; j <= t; j++) {
        const p = att[j] * inv;
        const vb = j * KW + kvh * HS;
        for (let d = 0; d < HS; d++) out[ob + d] += p * v[vb + d];
      }
    }
  }
}

/**
 * Reference: the full T×T score matrix per head, −Inf above the diagonal and outside the window, then softmax and P·V.
 */
export function causalAttentionNaive(
  out: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  T: number,
  NH: number,
  NKV: number,
  HS: number,
  scale: number,
  slopes: Float32Array | null,
  window: number,
): void {
  for (let h = 0; h < NH; h++) {
    const kvh = Math.floor((h * NKV) / NH);
    for (let t = 0; t < T; t++) {
      const scores: number[] = [];
      for (let j = 0; j < T; j++) {
        if (j > t || t - j > window) {
          scores.push(-Infinity);
          continue;
        }
        let dot = 0;
        for (let d = 0; d < HS; d++) dot += q[(t * NH + h) * HS + d] * k[(j * NKV + kvh) * HS + d];
        scores.push(dot * scale + (slopes ? slopes[h] * j : 0));
      }
      const m = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - m));
      const z = e.reduce((a, b) => a + b, 0);
      for (let d = 0; d < HS; d++) {
        let acc = 0;
        for (let j = 0; j < T; j++) acc += (e[j] / z) * v[(j * NKV + kvh) * HS + d];
        out[(t * NH + h) * HS + d] = acc;
      }
    }
  }
}
