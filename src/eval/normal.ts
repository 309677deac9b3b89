// The standard normal distribution function Φ and its inverse Φ⁻¹, for BCa bootstrap intervals
// (bootstrap.ts). No dependency: both are written here.
//
// Φ(x) = ½·erfc(−x/√2), with erfc(z) for z ≥ 0 from
//   - z < 2: the series erf(z) = (2/√π)·e^{−z²}·Σₙ 2ⁿ z^{2n+1} / (1·3·…·(2n+1)) (Abramowitz & Stegun
//     7.1.6), whose terms are all positive (no cancellation), and erfc = 1 − erf;
//   - z ≥ 2: the continued fraction erfc(z) = (e^{−z²}/√π) · 1/(z + ½/(z + 1/(z + (3/2)/(z + …))))
//     (A&S 7.1.14), evaluated from the tail up at a fixed depth; relative accuracy near 1e-15 deep
//     into the tail (Φ(−37) ≈ 6e-300 is still a number).
// Negative z use erfc(−z) = 2 − erfc(z).
//
// Φ⁻¹(p): P. J. Acklam's rational approximations (central region and the two tails; relative error
// below 1.2e-9), then one Halley step on Φ(x) − p with the Φ above, which brings it to ~1e-15.

const SQRT_PI = Math.sqrt(Math.PI);

/** Complementary error function erfc(z) = (2/√π)∫_z^∞ e^{−t²} dt. */
export function erfc(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z < 0) return 2 - erfc(-z);
  if (z < 2) {
    // Positive-term series for erf; stops when a term no longer changes the sum.
    const z2 = z * z;
    let term = z;
    let sum = z;
    for (let n = 1; n < 200; n++) {
      term *= (2 * z2) / (2 * n + 1);
      const next = sum + term;
      if (next === sum) break;
      sum = next;
    }
    return 1 - (2 / SQRT_PI) * Math.exp(-z2) * sum;
  }
  if (z > 27) return 0; // e^{−z²} underflows below the smallest double
  // Continued fraction K = z + a₁/(z + a₂/(z + …)) with aₖ = k/2, evaluated backwards from depth 60.
  let f = z;
  for (let k = 60; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / (SQRT_PI * f);
}

/** Standard normal distribution function Φ(x) = P(Z ≤ x). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

// Acklam's coefficients (central region numerator a, denominator b; tails c, d).
const A = [
  -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
  2.506628277459239,
];
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const C = [
  -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
  2.938163982698783,
];
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
const P_LOW = 0.02425;

/** Inverse of Φ: the x with Φ(x) = p; −∞ at 0, +∞ at 1, NaN outside [0, 1]. */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  let x: number;
  if (p < P_LOW) {
    const q = Math.sqrt(-2 * Math.log(p));
    x =
      (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) /
      ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1);
  } else if (p <= 1 - P_LOW) {
    const q = p - 0.5;
    const r = q * q;
    x =
      ((((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q) /
      (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log1p(-p));
    x =
      -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) /
      ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1);
  }
  // One Halley step: e = Φ(x) − p, u = e/φ(x), x ← x − u/(1 + x·u/2). Above ½ use the identity
  // Φ(x) − p = (1 − p) − Φ(−x): 1 − p is exact there, and Φ(−x) keeps its digits where Φ(x) would not.
  const e = p > 0.5 ? 1 - p - normalCdf(-x) : normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  // Beyond |x| ≈ 37.5 φ(x) underflows and u is not a number: keep Acklam's value there.
  if (!Number.isFinite(u)) return x;
  return x - u / (1 + (x * u) / 2);
}

/**
 * Student's t distribution function P(T ≤ t) for a whole number ν ≥ 1 of degrees of freedom, from
 * the finite series of Abramowitz & Stegun 26.7.3 (ν odd) and 26.7.4 (ν even) for A(t|ν) = P(|T| ≤ t).
 */
export function studentTCdf(t: number, nu: number): number {
  if (!(Number.isInteger(nu) && nu >= 1) || Number.isNaN(t)) return NaN;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  const th = Math.atan(Math.abs(t) / Math.sqrt(nu));
  const c = Math.cos(th);
  const c2 = c * c;
  let a: number;
  if (nu % 2 === 1) {
    // (2/π)[θ + sinθ(cosθ + (2/3)cos³θ + … + (2·4…(ν−3))/(1·3…(ν−2))cos^{ν−2}θ)]; 2θ/π for ν = 1
    let sum = 0;
    if (nu > 1) {
      let term = c;
      sum = c;
      for (let k = 3; k <= nu - 2; k += 2) {
        term *= (c2 * (k - 1)) / k;
        sum += term;
      }
    }
    a = (2 / Math.PI) * (th + Math.sin(th) * sum);
  } else {
    // sinθ[1 + ½cos²θ + (1·3)/(2·4)cos⁴θ + … + (1·3…(ν−3))/(2·4…(ν−2))cos^{ν−2}θ]
    let term = 1;
    let sum = 1;
    for (let k = 2; k <= nu - 2; k += 2) {
      term *= (c2 * (k - 1)) / k;
      sum += term;
    }
    a = Math.sin(th) * sum;
  }
  return t >= 0 ? 0.5 + a / 2 : 0.5 - a / 2;
}

/** Student's t density for a whole number ν ≥ 1 of degrees of freedom. */
function studentTDensity(t: number, nu: number): number {
  // Γ((ν+1)/2)/Γ(ν/2) by the recurrence ratio(ν+2) = ratio(ν)·(ν+1)/ν from ratio(1) = 1/√π, ratio(2) = √π/2.
  let g = nu % 2 === 1 ? 1 / SQRT_PI : SQRT_PI / 2;
  for (let k = nu % 2 === 1 ? 1 : 2; k < nu; k += 2) g *= (k + 1) / k;
  return (g / Math.sqrt(nu * Math.PI)) * Math.pow(1 + (t * t) / nu, -(nu + 1) / 2);
}

/**
 * Inverse of Student's t distribution function for a whole number ν ≥ 1 of degrees of freedom:
 * closed forms for ν = 1, 2; otherwise the Cornish–Fisher expansion in the normal quantile
 * (A&S 26.7.5) polished by Newton steps on studentTCdf.
 */
export function studentTQuantile(p: number, nu: number): number {
  if (!(Number.isInteger(nu) && nu >= 1) || !(p >= 0 && p <= 1)) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  if (nu === 1) return Math.tan(Math.PI * (p - 0.5));
  if (nu === 2) return (2 * p - 1) / Math.sqrt(2 * p * (1 - p));
  const z = normalQuantile(p);
  const z2 = z * z;
  const g1 = (z * (z2 + 1)) / 4;
  const g2 = (z * ((5 * z2 + 16) * z2 + 3)) / 96;
  const g3 = (z * (((3 * z2 + 19) * z2 + 17) * z2 - 15)) / 384;
  const g4 = (z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945)) / 92160;
  let t = z + (g1 + (g2 + (g3 + g4 / nu) / nu) / nu) / nu;
  for (let i = 0; i < 8; i++) {
    const step = (studentTCdf(t, nu) - p) / studentTDensity(t, nu);
    if (!Number.isFinite(step)) break;
    t -= step;
    if (Math.abs(step) <= 1e-14 * Math.max(1, Math.abs(t))) break;
  }
  return t;
}
