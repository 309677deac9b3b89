// Element-wise activations over n values, destination first (out may alias x):
//   geluTanh   0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))   (gelu_new, Hendrycks & Gimpel 2016)
//   geluErf    0.5·x·(1 + erf(x/√2))                         (exact GELU, torch.nn.GELU())
//   relu, silu x·σ(x) (Elfwing et al. 2018), quickGelu x·σ(1.702·x)
// and `erf` itself, accurate to |err| < 1e-7 (far below float32's resolution near 1): a Maclaurin
// series for |x| < 3 (float64, cancellation ≤ 1e-13 there) and the Laplace continued fraction for
// erfc beyond (Abramowitz & Stegun 7.1.5 and 7.1.14). Naive twins compute the same formula directly
// per element, through Math with no shortcut; they are the references of the unit tests.

import type { Activation } from './types.ts';

const TWO_OVER_SQRT_PI = 1.1283791670955126; // 2/√π
const INV_SQRT_PI = 0.5641895835477563; // 1/√π
const SQRT_2_OVER_PI = 0.7978845608028654; // √(2/π)
const INV_SQRT2 = 0.7071067811865476;

/** The error function, |error| < 1e-7 everywhere (NaN → NaN, ±Inf → ±1). */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 3) {
    // erf x = 2/√π Σ (−1)ⁿ x^(2n+1) / (n!(2n+1)); terms peak near 170 at |x| = 3
    const x2 = x * x;
    let term = x; // (−1)ⁿ x^(2n+1)/n!
    let sum = x;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return TWO_OVER_SQRT_PI * sum;
  }
  // erfc x = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated bottom-up; at x ≥ 3
  // 40 levels converge far past 1e-12 relative, and erfc(3) ≈ 2e-5 so the absolute error is tiny.
  let f = ax;
  for (let k = 40; k >= 1; k--) f = ax + k / 2 / f;
  const erfc = (Math.exp(-ax * ax) * INV_SQRT_PI) / f; // ax = Inf: 0/Inf = 0
  return x < 0 ? erfc - 1 : 1 - erfc;
}

export function geluTanh(out: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    out[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)));
  }
}

export function geluTanhNaive(out: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = 0.5 * x[i] * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x[i] + 0.044715 * Math.pow(x[i], 3))));
}

export function geluErf(out: Float32Array, x: Float32Array, n: number): void {
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
