// Round-to-nearest (RTN) quantise-dequantise of one 2-D weight matrix, in groups of `groupSize`
// consecutive weights along the input dimension (or one group per output channel), with a naive twin.
// Reference: test/fixtures/golden/README.md ("Quantisation reference"), the RTN conventions of
// AutoAWQ / GPTQ `--nearest` (RESEARCH.md §1), and llama2.c's runq.c for the explicit {q, s} record
// (with the group size kept in the tensor, and no NaN from an all-zero group).
//
// Formulas, N = bits, every operation rounded to float32 (Math.fround), round() = half to even:
//   asym: qmax = 2^N − 1; scale = (max − min) / qmax; zero = clamp(round(−min / scale), 0, qmax)
//         q = clamp(round(w / scale) + zero, 0, qmax);  w' = (q − zero) · scale
//   sym:  qpos = 2^(N−1) − 1; scale = max|w| / qpos;  q = clamp(round(w / scale), −qpos − 1, qpos)
//         w' = q · scale
// min / max are taken over the group (the range is not forced to include 0).
//
// Decisions (documented in README "Quantisation and preservation"):
// - A group whose range is zero never yields NaN: asym uses scale = |min| / qmax (so the constant is
//   represented: q = qmax or 0), or scale = 1 when the group is all zero; sym uses scale = 1 when
//   max|w| = 0. A scale that underflows to 0 in float32 for a tiny non-zero range is treated the same.
// - A group size that does not divide the input dimension is handled: the last group of every output
//   channel is shorter (inDim mod groupSize weights). A group size ≥ inDim means one group per channel.
// - Preserved ("kept") weights are stored apart in full precision: their level is the zero level (so the
//   dense part dequantises to 0 there) and the group's range is computed from the remaining weights
//   unless `scaleFrom: 'all'` asks for the range over every weight of the group.

import { ConfigError } from '../errors.ts';
import { assertFiniteTensor } from '../model/finite.ts';
import type { Layout } from '../model/spec.ts';
import type { Tensor } from '../tensor/tensor.ts';

export type Scheme = 'sym' | 'asym';
export const SCHEMES: readonly Scheme[] = ['sym', 'asym'];
export const MIN_BITS = 2;
export const MAX_BITS = 8;

/** What to quantise to. `groupSize: 'channel'` = one group per output channel (the whole input row). */
export interface QuantSpec {
  readonly bits: number;
  readonly groupSize: number | 'channel';
  readonly scheme: Scheme;
}

/** Weights kept in full precision: flat indices into the stored layout (ascending) and their values. */
export interface KeptWeights {
  readonly indices: Uint32Array;
  readonly values: Float32Array;
  /** Set when whole input columns were kept (dense, OWQ-style): the input indices, ascending. */
  readonly columns?: Uint32Array;
}

/**
 * A quantised matrix: integer levels in the weight's stored layout, one scale (and zero) per group.
 * The group size lives here, not in a global.
 */
export interface QuantizedTensor {
  /** Stored shape: [in, out] for `in_out`, [out, in] for `out_in`. */
  readonly shape: readonly [number, number];
  readonly layout: Layout;
  readonly inDim: number;
  readonly outDim: number;
  readonly bits: number;
  readonly scheme: Scheme;
  /** Weights per group along the input dimension (resolved: ≤ inDim). */
  readonly groupSize: number;
  /** Groups per output channel: ceil(inDim / groupSize); the last may be shorter. */
  readonly numGroups: number;
  /** Levels, same index as the weight: Int8Array (sym, −2^(N−1)..2^(N−1)−1) or Uint8Array (asym, 0..2^N−1). */
  readonly levels: Int8Array | Uint8Array;
  /** [outDim, numGroups] float32 scales. */
  readonly scales: Float32Array;
  /** [outDim, numGroups] zero points (asym only). */
  readonly zeros: Uint8Array | null;
  /** Weights kept in full precision (preservation), or null. */
  readonly kept: KeptWeights | null;
}

export interface QuantizeOptions {
  /** 1 = keep this weight in full precision (stored layout, same length as the weight). */
  readonly keep?: Uint8Array | null;
  /** Input columns that `keep` marks whole (recorded for bit accounting). */
  readonly keptColumns?: Uint32Array | null;
  /** Range of each group from the weights that remain after `keep` (default) or from all weights. */
  readonly scaleFrom?: 'remaining' | 'all';
  /** Tensor name, for error messages. */
  readonly name?: string;
}

export interface QuantError {
  readonly maxAbs: number;
  readonly meanAbs: number;
  /** ‖W − W'‖_F / ‖W‖_F (0 when W = 0 and W' = 0). */
  readonly relFrobenius: number;
}

const f = Math.fround;

/** Round half to even (banker's rounding), as torch.round and numpy.round do. */
export function roundHalfEven(x: number): number {
  const fl = Math.floor(x);
  const d = x - fl;
  if (d < 0.5) return fl;
  if (d > 0.5) return fl + 1;
  return fl % 2 === 0 ? fl : fl + 1;
}

/** Checks bits and group size; throws ConfigError saying what is allowed. */
export function checkSpec(spec: QuantSpec): void {
  if (!Number.isInteger(spec.bits) || spec.bits < MIN_BITS || spec.bits > MAX_BITS) {
    throw new ConfigError(
      `bits must be an integer from ${MIN_BITS} to ${MAX_BITS}, got ${spec.bits}; use e.g. --bits 4`,
    );
  }
  if (spec.groupSize !== 'channel' && (!Number.isInteger(spec.groupSize) || spec.groupSize < 1)) {
    throw new ConfigError(
      `group size must be a positive integer or "channel", got ${spec.groupSize}; use e.g. --group-size 128`,
    );
  }
  if (spec.scheme !== 'sym' && spec.scheme !== 'asym') {
    throw new ConfigError(`scheme must be sym or asym, got ${JSON.stringify(spec.scheme)}`);
  }
}

/** Input and output dimensions of a stored 2-D weight. */
export function dimsOf(shape: readonly number[], layout: Layout): { inDim: number; outDim: number } {
  if (shape.length !== 2) throw new Error(`quantise: expected a 2-D weight, got shape [${shape.join(', ')}]`);
  return layout === 'in_out' ? { inDim: shape[0], outDim: shape[1] } : { inDim: shape[1], outDim: shape[0] };
}

/** Group size actually used for an input dimension: 'channel' or a size ≥ inDim → inDim. */
export function resolveGroupSize(groupSize: number | 'channel', inDim: number): number {
  return groupSize === 'channel' || groupSize >= inDim ? inDim : groupSize;
}

/** Throws CheckpointError at the first NaN/Inf in a weight (the loader's check, src/model/finite.ts). */
export function assertFinite(t: Tensor, name = 'weight'): void {
  assertFiniteTensor(name, t, { advice: 'quantisation needs finite weights — check or re-export the checkpoint' });
}

/** Scale and zero of one group from its min and max (float32 inputs). Never 0, never NaN. */
export function groupParams(lo: number, hi: number, bits: number, scheme: Scheme): { scale: number; zero: number } {
  if (scheme === 'asym') {
    const qmax = 2 ** bits - 1;
    let scale = f(f(hi - lo) / qmax);
    if (!(scale > 0)) {
      // Zero range (or one that underflows): represent the constant group exactly-ish, never divide by 0.
      const a = Math.max(Math.abs(lo), Math.abs(hi));
      scale = a > 0 ? f(a / qmax) : 1;
      if (!(scale > 0)) scale = 1;
    }
    const z = roundHalfEven(f(-lo / scale));
    return { scale, zero: Math.min(qmax, Math.max(0, z)) };
  }
  const qpos = 2 ** (bits - 1) - 1;
  const a = Math.max(Math.abs(lo), Math.abs(hi));
  let scale = f(a / qpos);
  if (!(scale > 0)) scale = 1; // an all-zero group: any scale dequantises to 0
  return { scale, zero: 0 };
}

function emptyRecord(w: Tensor, layout: Layout, spec: QuantSpec) {
  checkSpec(spec);
  const { inDim, outDim } = dimsOf(w.shape, layout);
  const groupSize = resolveGroupSize(spec.groupSize, inDim);
  const numGroups = Math.ceil(inDim / groupSize);
  const n = inDim * outDim;
  return {
    inDim,
    outDim,
    groupSize,
    numGroups,
    levels: spec.scheme === 'sym' ? new Int8Array(n) : new Uint8Array(n),
    scales: new Float32Array(outDim * numGroups),
    zeros: spec.scheme === 'asym' ? new Uint8Array(outDim * numGroups) : null,
  };
}

/** The quantised tensor: `rec` (filled in) with the stored shape, layout, spec and kept weights. */
function finishRecord(
  w: Tensor,
  layout: Layout,
  spec: QuantSpec,
  rec: ReturnType<typeof emptyRecord>,
  kept: KeptWeights | null,
): QuantizedTensor {
  const { inDim, outDim, groupSize, numGroups, levels, scales, zeros } = rec;
  return {
    shape: [w.shape[0], w.shape[1]],
    layout,
    inDim,
    outDim,
    bits: spec.bits,
    scheme: spec.scheme,
    groupSize,
    numGroups,
    levels,
    scales,
    zeros,
    kept,
  };
}

function keptFrom(
  w: Float32Array,
  keep: Uint8Array | null | undefined,
  columns: Uint32Array | null | undefined,
): KeptWeights | null {
  if (!keep) return null;
  let count = 0;
  for (let i = 0; i < keep.length; i++) if (keep[i]) count++;
  if (count === 0) return null;
  const indices = new Uint32Array(count);
  const values = new Float32Array(count);
  for (let i = 0, k = 0; i < keep.length; i++) {
    if (keep[i]) {
      indices[k] = i;
      values[k++] = w[i];
    }
  }
  return columns && columns.length ? { indices, values, columns } : { indices, values };
}

/**
 * Quantises `w` (stored layout `layout`) with RTN. Fast path: for `in_out` the group of output column
 * o is a strided run of rows, so min/max are swept row by row over all columns at once.
 */
export function quantizeRtn(w: Tensor, layout: Layout, spec: QuantSpec, opts: QuantizeOptions = {}): QuantizedTensor {
  const rec = emptyRecord(w, layout, spec);
  const { inDim, outDim, groupSize, numGroups, levels, scales, zeros } = rec;
  const data = w.data;
  assertFinite(w, opts.name);
  const keep = opts.keep ?? null;
  if (keep && keep.length !== data.length)
    throw new Error(`quantizeRtn: keep mask has ${keep.length} entries for ${data.length} weights`);
  const useKeep = keep !== null && (opts.scaleFrom ?? 'remaining') === 'remaining';
  const { bits, scheme } = spec;
  const qlo = scheme === 'asym' ? 0 : -(2 ** (bits - 1));
  const qhi = scheme === 'asym' ? 2 ** bits - 1 : 2 ** (bits - 1) - 1;
  const lo = new Float32Array(outDim);
  const hi = new Float32Array(outDim);
  const sc = new Float32Array(outDim);
  const zr = new Int32Array(outDim);

  for (let g = 0; g < numGroups; g++) {
    const i0 = g * groupSize;
    const i1 = Math.min(inDim, i0 + groupSize);
    lo.fill(Infinity);
    hi.fill(-Infinity);
    // 1. range of each output channel's group
    if (layout === 'in_out') {
      for (let i = i0; i < i1; i++) {
        const row = i * outDim;
        for (let o = 0; o < outDim; o++) {
          if (useKeep && keep![row + o]) continue;
          const v = data[row + o];
          if (v < lo[o]) lo[o] = v;
          if (v > hi[o]) hi[o] = v;
        }
      }
    } else {
      for (let o = 0; o < outDim; o++) {
        const row = o * inDim;
        let a = Infinity;
        let b = -Infinity;
        for (let i = i0; i < i1; i++) {
          if (useKeep && keep![row + i]) continue;
          const v = data[row + i];
          if (v < a) a = v;
          if (v > b) b = v;
        }
        lo[o] = a;
        hi[o] = b;
      }
    }
    // 2. scale and zero per channel (a group with every weight kept has no range: treat as zero)
    for (let o = 0; o < outDim; o++) {
      const a = lo[o] === Infinity ? 0 : lo[o];
      const b = hi[o] === -Infinity ? 0 : hi[o];
      const p = groupParams(a, b, bits, scheme);
      sc[o] = p.scale;
      zr[o] = p.zero;
      scales[o * numGroups + g] = p.scale;
      if (zeros) zeros[o * numGroups + g] = p.zero;
    }
    // 3. levels
    if (layout === 'in_out') {
      for (let i = i0; i < i1; i++) {
        const row = i * outDim;
        for (let o = 0; o < outDim; o++) {
          const idx = row + o;
          if (keep && keep[idx]) {
            levels[idx] = zr[o];
            continue;
          }
          let q = roundHalfEven(f(data[idx] / sc[o])) + zr[o];
          q = q < qlo ? qlo : q > qhi ? qhi : q;
          levels[idx] = q;
        }
      }
    } else {
      for (let o = 0; o < outDim; o++) {
        const row = o * inDim;
        const s = sc[o];
        const z = zr[o];
        for (let i = i0; i < i1; i++) {
          const idx = row + i;
          if (keep && keep[idx]) {
            levels[idx] = z;
            continue;
          }
          let q = roundHalfEven(f(data[idx] / s)) + z;
          q = q < qlo ? qlo : q > qhi ? qhi : q;
          levels[idx] = q;
        }
      }
    }
  }
  return finishRecord(w, layout, spec, rec, keptFrom(data, keep, opts.keptColumns));
}

/** Flat stored index of (output channel o, input i). */
function at(layout: Layout, inDim: number, outDim: number, o: number, i: number): number {
  return layout === 'in_out' ? i * outDim + o : o * inDim + i;
}

/** The naive twin of quantizeRtn: one group at a time, element by element through `at`. */
export function quantizeRtnNaive(
  w: Tensor,
  layout: Layout,
  spec: QuantSpec,
  opts: QuantizeOptions = {},
): QuantizedTensor {
  const rec = emptyRecord(w, layout, spec);
  const { inDim, outDim, groupSize, numGroups, levels, scales, zeros } = rec;
  assertFinite(w, opts.name);
  const keep = opts.keep ?? null;
  const remaining = (opts.scaleFrom ?? 'remaining') === 'remaining';
  const { bits, scheme } = spec;
  for (let o = 0; o < outDim; o++) {
    for (let g = 0; g < numGroups; g++) {
      const idx: number[] = [];
      for (let i = g * groupSize; i < Math.min(inDim, (g + 1) * groupSize); i++)
        idx.push(at(layout, inDim, outDim, o, i));
      const vals = idx.filter((k) => !(remaining && keep && keep[k])).map((k) => w.data[k]);
      const lo = vals.length ? Math.min(...vals) : 0;
      const hi = vals.length ? Math.max(...vals) : 0;
      const { scale, zero } = groupParams(lo, hi, bits, scheme);
      scales[o * numGroups + g] = scale;
      if (zeros) zeros[o * numGroups + g] = zero;
      for (const k of idx) {
        if (keep && keep[k]) {
          levels[k] = zero;
          continue;
        }
        const q = roundHalfEven(f(w.data[k] / scale)) + zero;
        const [qlo, qhi] = scheme === 'asym' ? [0, 2 ** bits - 1] : [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1];
        levels[k] = Math.min(qhi, Math.max(qlo, q));
      }
    }
  }
  return finishRecord(w, layout, spec, rec, keptFrom(w.data, keep, opts.keptColumns));
}

/** Dequantises into a new float32 tensor of the stored shape: (q − zero)·scale, kept weights restored. */
export function dequantize(q: QuantizedTensor): Tensor {
  const { inDim, outDim, groupSize, numGroups, levels, scales, zeros, layout } = q;
  const out = new Float32Array(inDim * outDim);
  if (layout === 'in_out') {
    for (let i = 0; i < inDim; i++) {
      const g = Math.floor(i / groupSize);
      const row = i * outDim;
      for (let o = 0; o < outDim; o++) {
        const z = zeros ? zeros[o * numGroups + g] : 0;
        out[row + o] = f((levels[row + o] - z) * scales[o * numGroups + g]);
      }
    }
  } else {
    for (let o = 0; o < outDim; o++) {
      const row = o * inDim;
      for (let i = 0; i < inDim; i++) {
        const g = Math.floor(i / groupSize);
        const z = zeros ? zeros[o * numGroups + g] : 0;
        out[row + i] = f((levels[row + i] - z) * scales[o * numGroups + g]);
      }
    }
  }
  if (q.kept) {
    const { indices, values } = q.kept;
    for (let k = 0; k < indices.length; k++) out[indices[k]] = values[k];
  }
  return { data: out, shape: [q.shape[0], q.shape[1]] };
}

/** Max and mean absolute error and relative Frobenius error of `approx` against `orig` (float64 sums). */
export function quantError(orig: Float32Array, approx: Float32Array): QuantError {
  if (orig.length !== approx.length) throw new Error(`quantError: ${orig.length} vs ${approx.length} values`);
  let maxAbs = 0;
  let sumAbs = 0;
  let sumSqErr = 0;
  let sumSq = 0;
  for (let i = 0; i < orig.length; i++) {
    const d = approx[i] - orig[i];
    const a = Math.abs(d);
    if (a > maxAbs) maxAbs = a;
    sumAbs += a;
    sumSqErr += d * d;
    sumSq += orig[i] * orig[i];
  }
  const n = orig.length;
  return {
    maxAbs,
    meanAbs: n ? sumAbs / n : 0,
    relFrobenius: sumSq > 0 ? Math.sqrt(sumSqErr / sumSq) : sumSqErr > 0 ? Infinity : 0,
  };
}
