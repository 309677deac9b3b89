// Rotary position embedding (Su et al. 2021, RoFormer), rotate-half convention as GPT-NeoX and
// Llama use it in transformers: for the first R dims of each head, pairs (m, m + R/2) are rotated by
// the angle pos·θ_m with θ_m = base^(−2m/R); dims ≥ R pass through (partial rotary, Pythia).
// The tables are computed in float32 as transformers does (inv_freq, pos·inv_freq, cos, sin are each
// rounded to float32), so the angle error at position p matches the reference's.

import type { FloatArray } from './types.ts';

/** Fills cos[T, R/2] and sin[T, R/2] for positions 0..T−1 (the engine's and the trainer's). R must be even. */
export function rotaryTables(cos: FloatArray, sin: FloatArray, T: number, R: number, base: number): void {
  const half = R / 2;
  for (let m = 0; m < half; m++) {
    const invFreq = Math.fround(1 / Math.fround(Math.pow(base, Math.fround((2 * m) / R))));
    for (let p = 0; p < T; p++) {
      const angle = Math.fround(p * invFreq);
      cos[p * half + m] = Math.cos(angle);
      sin[p * half + m] = Math.sin(angle);
    }
  }
}

/**
 * Rotates x[T, nHeads·HS] in place: within each head the first R dims, pairs (m, m + R/2), with
 * the tables of `rotaryTables` (cos/sin [≥T, R/2]).
 */
export function applyRotary(
  x: Float32Array,
  cos: Float32Array,
  sin: Float32Array,
  T: number,
  nHeads: number,
  HS: number,
  R: number,
): void {
  const half = R / 2;
  const W = nHeads * HS;
  for (let t = 0; t < T; t++) {
    const c = t * half;
    for (let h = 0; h < nHeads; h++) {
      const b = t * W + h * HS;
      for (let m = 0; m < half; m++) {
        const x1 = x[b + m];
        const x2 = x[b + m + half];
        const cs = cos[c + m];
        const sn = sin[c + m];
        x[b + m] = x1 * cs - x2 * sn;
        x[b + m + half] = x2 * cs + x1 * sn;
      }
    }
  }
}

/** Reference: the rotate-half formula q·cos + rotate_half(q)·sin with angles in float64. */
export function applyRotaryNaive(
  x: Float32Array,
  T: number,
  nHeads: number,
  HS: number,
  R: number,
  base: number,
): void {
  const half = R / 2;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < nHeads; h++) {
      const b = (t * nHeads + h) * HS;
      const v = Array.from(x.subarray(b, b + R));
      const rotated = v.map((_, i) => (i < half ? -v[i + half] : v[i - half]));
      for (let i = 0; i < R; i++) {
        const theta = t * Math.pow(base, -(2 * (i % half)) / R);
        x[b + i] = v[i] * Math.cos(theta) + rotated[i] * Math.sin(theta);
      }
    }
  }
}
