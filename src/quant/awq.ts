// AWQ (Lin, Tang, Tang, Yang, Dang, Gan, Han 2023, "AWQ: Activation-aware Weight Quantization for LLM
// Compression and Acceleration", arXiv 2306.00978, §3.2 "Searching to scale") for a group of linears
// that read the same input (q/k/v; gate/up; every other linear alone), given the calibration inputs'
// Gram matrix G = Σ x xᵀ [in, in] and mean |x_j| per input channel.
//
//   s_j = max(mean|X_j|^α, 1e-4), then s /= √(max s · min s)       (float32)
//   W' = Q(W·diag(s))·diag(s)⁻¹  with Q = RTN on the project's grid (rtn.ts)
//   α ∈ {0, 1/20, …, 19/20}: the one with the smallest Σ_linears ‖X Wᵀ − X W'ᵀ‖² (= Σ_r d_rᵀ G d_r, d = W − W')
//   over the calibration rows; ties go to the smaller α.
//
// W' is the dequantised weight the evaluation uses. In deployment diag(s)⁻¹ is folded into the
// operator before the linear (a norm's weight or the previous linear), so the scales cost no bits.
// At α = 0 every s_j is exactly 1, W·1 and ·/1 are exact, and W' is RTN bit for bit.
//
// Optional clipping search (the paper's §3.3 / AutoAWQ's auto_clip): after s is chosen, each row's
// group range [lo, hi] of the scaled weight is shrunk to [r·lo, r·hi], r ∈ {1, 0.95, …, 0.55}, the r
// minimising that group's output error d_gᵀ G_gg d_g (its diagonal block of G, cross-group terms left
// out as AutoAWQ does).

import type { Layout } from '../model/spec.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { gramQuadraticJs, outputErrorWith, type GramQuadratic } from './gptq.ts';
import {
  dequantize,
  dimsOf,
  groupParams,
  quantizeRtn,
  resolveGroupSize,
  roundHalfEven,
  type QuantizedTensor,
  type QuantSpec,
} from './rtn.ts';

const f = Math.fround;

export const AWQ_GRID = 20;
export const AWQ_MIN_SCALE = 1e-4;
export const CLIP_RATIOS: readonly number[] = Array.from({ length: 10 }, (_, i) => 1 - i / 20);

export interface AwqLinear {
  readonly name: string;
  readonly weight: Tensor;
  readonly layout: Layout;
}

export interface AwqOptions {
  /** Search the group ranges' shrink after the scales (default false). */
  readonly clip?: boolean;
  /** Restrict the α grid (tests); default k/20, k = 0..19. */
  readonly alphas?: readonly number[];
}

export interface AwqResult {
  readonly alpha: number;
  /** [in] float32 per-input-channel scales s (all 1 at α = 0). */
  readonly scales: Float32Array;
  /** Σ over the group's linears of the output error, per α tried (same order as the grid). */
  readonly errors: readonly { alpha: number; error: number }[];
  /** Per linear: the grid record of W·diag(s) (clip applied) and the dequantised W' in the stored layout. */
  readonly linears: readonly { name: string; q: QuantizedTensor; dequant: Tensor; outErr: number }[];
}

export function defaultAlphas(): number[] {
  return Array.from({ length: AWQ_GRID }, (_, k) => k / AWQ_GRID);
}

/** s for one α from mean |x_j| [in]: clamped power, normalised by √(max·min), float32. */
export function awqScales(meanAbs: Float64Array, alpha: number): Float32Array {
  const n = meanAbs.length;
  const s = new Float64Array(n);
  let mx = -Infinity;
  let mn = Infinity;
  for (let j = 0; j < n; j++) {
    const v = Math.max(Math.pow(meanAbs[j], alpha), AWQ_MIN_SCALE);
    s[j] = v;
    if (v > mx) mx = v;
    if (v < mn) mn = v;
  }
  const norm = Math.sqrt(mx * mn);
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) out[j] = s[j] / norm;
  return out;
}

/** W·diag(s) in the stored layout (float32 products). */
function scaleColumns(w: Tensor, layout: Layout, s: Float32Array, inverse: boolean): Tensor {
  const { inDim, outDim } = dimsOf(w.shape, layout);
  const d = w.data;
  const out = new Float32Array(d.length);
  for (let o = 0; o < outDim; o++) {
    for (let i = 0; i < inDim; i++) {
      const k = layout === 'out_in' ? o * inDim + i : i * outDim + o;
      out[k] = inverse ? f(d[k] / s[i]) : f(d[k] * s[i]);
    }
  }
  return { data: out, shape: [w.shape[0], w.shape[1]] };
}

/**
 * RTN of `w` with each (row, group) range shrunk by `ratio[row·numGroups + group]` (1 = RTN's range).
 * With every ratio 1 it equals quantizeRtn (tested).
 */
export function quantizeClipped(w: Tensor, layout: Layout, spec: QuantSpec, ratio: Float32Array): QuantizedTensor {
  const base = quantizeRtn(w, layout, spec);
  const { inDim, outDim, groupSize: g, numGroups } = base;
  const [qlo, qhi] =
    spec.scheme === 'asym' ? [0, 2 ** spec.bits - 1] : [-(2 ** (spec.bits - 1)), 2 ** (spec.bits - 1) - 1];
  const at = (o: number, i: number) => (layout === 'out_in' ? o * inDim + i : i * outDim + o);
  for (let o = 0; o < outDim; o++) {
    for (let gi = 0; gi < numGroups; gi++) {
      const r = ratio[o * numGroups + gi];
      if (r === 1) continue;
      const i0 = gi * g;
      const i1 = Math.min(inDim, i0 + g);
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = i0; i < i1; i++) {
        const v = w.data[at(o, i)];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const p = groupParams(f(lo * r), f(hi * r), spec.bits, spec.scheme);
      base.scales[o * numGroups + gi] = p.scale;
      if (base.zeros) base.zeros[o * numGroups + gi] = p.zero;
      for (let i = i0; i < i1; i++) {
        const k = at(o, i);
        const q = roundHalfEven(f(w.data[k] / p.scale)) + p.zero;
        base.levels[k] = q < qlo ? qlo : q > qhi ? qhi : q;
      }
    }
  }
  return base;
}

/** Per (row, group), the shrink ratio with the smallest block-diagonal output error (ties: larger ratio). */
function searchClip(w: Tensor, layout: Layout, spec: QuantSpec, s: Float32Array, gram: Float64Array): Float32Array {
  const { inDim, outDim } = dimsOf(w.shape, layout);
  const g = resolveGroupSize(spec.groupSize, inDim);
  const numGroups = Math.ceil(inDim / g);
  const ws = scaleColumns(w, layout, s, false);
  const best = new Float32Array(outDim * numGroups).fill(1);
  const bestErr = new Float64Array(outDim * numGroups).fill(Infinity);
  const at = (o: number, i: number) => (layout === 'out_in' ? o * inDim + i : i * outDim + o);
  const d = new Float64Array(g);
  for (const r of CLIP_RATIOS) {
    const ratio = new Float32Array(outDim * numGroups).fill(r);
    const dq = scaleColumns(dequantize(quantizeClipped(ws, layout, spec, ratio)), layout, s, true).data;
    for (let o = 0; o < outDim; o++) {
      for (let gi = 0; gi < numGroups; gi++) {
        const i0 = gi * g;
        const len = Math.min(inDim, i0 + g) - i0;
        for (let a = 0; a < len; a++) d[a] = w.data[at(o, i0 + a)] - dq[at(o, i0 + a)];
        let e = 0;
        for (let a = 0; a < len; a++) {
          if (d[a] === 0) continue;
          const row = (i0 + a) * inDim + i0;
          let t = 0;
          for (let b = 0; b < len; b++) t += gram[row + b] * d[b];
          e += d[a] * t;
        }
        const k = o * numGroups + gi;
        if (e < bestErr[k]) {
          bestErr[k] = e;
          best[k] = r;
        }
      }
    }
  }
  return best;
}

/** W' and its record for one linear at scales s (optionally with the clip search). */
function quantizeScaled(
  l: AwqLinear,
  spec: QuantSpec,
  s: Float32Array,
  gram: Float64Array,
  clip: boolean,
): { q: QuantizedTensor; dequant: Tensor } {
  const ws = scaleColumns(l.weight, l.layout, s, false);
  const q = clip
    ? quantizeClipped(ws, l.layout, spec, searchClip(l.weight, l.layout, spec, s, gram))
    : quantizeRtn(ws, l.layout, spec, { name: l.name });
  return { q, dequant: scaleColumns(dequantize(q), l.layout, s, true) };
}

/**
 * The α search for one group of linears sharing an input: `gram` Σ x xᵀ [in, in] (symmetric) and
 * `meanAbs` mean |x_j| [in] of that input. Deterministic: no randomness, a fixed grid, ties to the smaller α.
 * `quadratic` evaluates each candidate's output error (default: the plain loop; the calibration pass on
 * onnxruntime gives float64 matrix products, the cost of the search at real widths).
 */
export async function awqSearch(
  linears: readonly AwqLinear[],
  gram: Float64Array,
  meanAbs: Float64Array,
  spec: QuantSpec,
  opts: AwqOptions = {},
  quadratic: GramQuadratic = gramQuadraticJs,
): Promise<AwqResult> {
  const errorOf = (l: AwqLinear, dequant: Tensor) => {
    const { inDim, outDim } = dimsOf(l.weight.shape, l.layout);
    return outputErrorWith(quadratic, l.weight.data, dequant.data, l.layout, inDim, outDim, gram);
  };
  const alphas = opts.alphas ?? defaultAlphas();
  const errors: { alpha: number; error: number }[] = [];
  let bestAlpha = alphas[0];
  let bestErr = Infinity;
  for (const alpha of alphas) {
    const s = awqScales(meanAbs, alpha);
    let e = 0;
    for (const l of linears) e += await errorOf(l, quantizeScaled(l, spec, s, gram, false).dequant);
    errors.push({ alpha, error: e });
    if (e < bestErr) {
      bestErr = e;
      bestAlpha = alpha;
    }
  }
  const scales = awqScales(meanAbs, bestAlpha);
  const out: AwqResult['linears'][number][] = [];
  for (const l of linears) {
    const r = quantizeScaled(l, spec, scales, gram, Boolean(opts.clip));
    out.push({ name: l.name, q: r.q, dequant: r.dequant, outErr: await errorOf(l, r.dequant) });
  }
  return { alpha: bestAlpha, scales, errors, linears: out };
}
