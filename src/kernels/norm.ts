// Normalisation over the last axis of a [T, C] activation.
// LayerNorm (Ba et al. 2016) with the biased variance, as torch.nn.LayerNorm:
//   y = (x − μ) / √(var + eps) · g + b.
// RMSNorm (Zhang & Sennrich 2019), as transformers' LlamaRMSNorm: y = x / √(mean(x²) + eps) · g,
// or with the gain stored as an offset, as GemmaRMSNorm: y = x / √(mean(x²) + eps) · (1 + w).
// Statistics are accumulated in float64. `…Naive` twins are two-pass textbook versions kept as references.

/** out[T, C] = LayerNorm(x[T, C]) with gain g[C] and bias b[C] (b may be null). out may alias x. */
export function layerNorm(
  out: Float32Array,
  x: Float32Array,
  g: Float32Array,
  b: Float32Array | null,
  T: number,
  C: number,
  eps: number,
): void {
  for (let t = 0; t < T; t++) {
    const r = t * C;
    // one pass for the mean, one for the variance about it (no cancellation for large offsets)
    let sum = 0;
    for (let i = 0; i < C; i++) sum += x[r + i];
    const mean = sum / C;
    let sq = 0;
    for (let i = 0; i < C; i++) {
      const d = x[r + i] - mean;
      sq += d * d;
    }
    const rstd = 1 / Math.sqrt(sq / C + eps);
    if (b) for (let i = 0; i < C; i++) out[r + i] = (x[r + i] - mean) * rstd * g[i] + b[i];
    else for (let i = 0; i < C; i++) out[r + i] = (x[r + i] - mean) * rstd * g[i];
  }
}

export function layerNormNaive(
  out: Float32Array,
  x: Float32Array,
  g: Float32Array,
  b: Float32Array | null,
  T: number,
  C: number,
  eps: number,
): void {
  for (let t = 0; t < T; t++) {
    const row = Array.from(x.subarray(t * C, t * C + C));
    const mean = row.reduce((s, v) => s + v, 0) / C;
    const variance = row.reduce((s, v) => s + (v - mean) * (v - mean), 0) / C;
    for (let i = 0; i < C; i++) out[t * C + i] = ((row[i] - mean) / Math.sqrt(variance + eps)) * g[i] + (b ? b[i] : 0);
  }
}

/** out[T, C] = RMSNorm(x[T, C]) with gain gainOffset + g[C] (Gemma: 1, else 0). out may alias x. */
export function rmsNorm(
  out: Float32Array,
  x: Float32Array,
  g: Float32Array,
  T: number,
  C: number,
  eps: number,
  gainOffset: number,
): void {
  for (let t = 0; t < T; t++) {
    const r = t * C;
    let sq = 0;
    for (let i = 0; i < C; i++) sq += x[r + i] * x[r + i];
    const rstd = 1 / Math.sqrt(sq / C + eps);
    // transformers rounds the normalised value to the input dtype (float32) before the gain
    // (the gain 1 + w is itself a float32 sum in GemmaRMSNorm; with offset 0, fround(g) = g)
    for (let i = 0; i < C; i++) out[r + i] = Math.fround(x[r + i] * rstd) * Math.fround(gainOffset + g[i]);
  }
}

export function rmsNormNaive(
  out: Float32Array,
  x: Float32Array,
  g: Float32Array,
  T: number,
  C: number,
  eps: number,
  gainOffset: number,
): void {
  for (let t = 0; t < T; t++) {
    const row = Array.from(x.subarray(t * C, t * C + C));
    const ms = row.reduce((s, v) => s + v * v, 0) / C;
    for (let i = 0; i < C; i++) out[t * C + i] = (row[i] / Math.sqrt(ms + eps)) * (gainOffset + g[i]);
  }
}
