// Element-wise activations over n values, destination first (out may alias x):
//   geluTanh   0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))   (gelu_new, Hendrycks & Gimpel 2016)
//   geluErf    0.5·x·(1 + erf(x/√2))                         (exact GELU, torch.nn.GELU())
//   relu, silu x·σ(x) (Elfwing et al. 2018), quickGelu x·σ(1.702·x)
// and `erf` itself, to about 1e-15 relative in float64: a Maclaurin series for |x| < 2.5 (terms peak
// near 25 there, so cancellation costs little) and the Laplace continued fraction for erfc beyond
// (Abramowitz & Stegun 7.1.5 and 7.1.14). The trainer (src/train) uses erf, geluTanh and geluErf too,
// over Float64Array in its gradient checks. Naive twins compute the same formula directly per element,
// through Math with no shortcut; they are the references of the unit tests.

import type { Activation, FloatArray } from './types.ts';

const TWO_OVER_SQRT_PI = 1.1283791670955126; // 2/√π
const SQRT_PI = 1.7724538509055159; // √π
const SQRT_2_OVER_PI = 0.7978845608028654; // √(2/π)
const INV_SQRT2 = 0.7071067811865476;

/** The error function, to about 1e-15 relative (NaN → NaN, ±Inf → ±1). */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // erf x = 2/√π Σ (−1)ⁿ x^(2n+1) / (n!(2n+1)), summed for |x| and the sign applied at the end
    const x2 = ax * ax;
    let term = ax; // (−1)ⁿ |x|^(2n+1)/n!
    let sum = ax;
    for (let n = 1; n < 60; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    const r = TWO_OVER_SQRT_PI * sum;
    return x < 0 ? -r : r;
  }
  // erfc(6) ≈ 2e-17 is below half an ulp of 1 (also catches ±Inf)
  if (ax > 6) return x < 0 ? -1 : 1;
  // erfc x = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated bottom-up from 60 levels
  let f = ax;
  for (let k = 60; k >= 1; k--) f = ax + k / 2 / f;
  const erfc = Math.exp(-ax * ax) / SQRT_PI / f;
  return x < 0 ? erfc - 1 : 1 - erfc;
}

export function geluTanh(out: FloatArray, x: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    out[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)));
  }
}

export function geluTanhNaive(out: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++)
    out[i] = 0.5 * x[i] * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x[i] + 0.044715 * Math.pow(x[i], 3))));
}

export function geluErf(out: FloatArray, x: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    out[i] = 0.5 * v * (1 + erf(v * INV_SQRT2));
  }
}

/** Reference: the erf integral by composite Simpson's rule (slow, independent of `erf`). */
export function erfNaive(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.min(Math.abs(x), 8); // erf(8) = 1 − 1e-29
  const steps = 2000;
  const h = ax / steps;
  let s = 1 + Math.exp(-ax * ax);
  for (let k = 1; k < steps; k++) s += (k % 2 ? 4 : 2) * Math.exp(-(k * h) * (k * h));
  const v = ((s * h) / 3) * TWO_OVER_SQRT_PI;
  return x < 0 ? -v : v;
}

export function geluErfNaive(out: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = 0.5 * x[i] * (1 + erfNaive(x[i] / Math.SQRT2));
}

export function relu(out: Float32Array, x: Float32Array, n: number): void {
  // v > 0 ? v : 0 would turn NaN into 0; torch.relu keeps NaN
  for (let i = 0; i < n; i++) {
    const v = x[i];
    out[i] = v < 0 ? 0 : v;
  }
}

export function reluNaive(out: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = Number.isNaN(x[i]) ? NaN : Math.max(0, x[i]);
}

export function silu(out: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    out[i] = v / (1 + Math.exp(-v));
  }
}

export function siluNaive(out: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = x[i] * (1 / (1 + Math.exp(-x[i])));
}

export function quickGelu(out: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    out[i] = v / (1 + Math.exp(-1.702 * v));
  }
}

export function quickGeluNaive(out: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = x[i] * (1 / (1 + Math.exp(-1.702 * x[i])));
}

/** Applies the named activation: out[n] = act(x[n]). */
export function activate(act: Activation, out: Float32Array, x: Float32Array, n: number): void {
  switch (act) {
    case 'gelu_tanh':
      return geluTanh(out, x, n);
    case 'gelu_erf':
      return geluErf(out, x, n);
    case 'relu':
      return relu(out, x, n);
    case 'silu':
      return silu(out, x, n);
    case 'quick_gelu':
      return quickGelu(out, x, n);
  }
}
