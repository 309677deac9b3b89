// Honest bit accounting of a quantised model (DESIGN.md §5, RESEARCH.md §1 "What Phase B's
// 5/10/20 % costs"). For each quantised matrix of N = in·out weights, G groups per output channel:
//   levels       bits per weight, packed: sparse keeping stores the dense grid with every position
//                (N·bits); dense column keeping removes the kept columns from it ((N − c·out)·bits)
//   scales       16 bits per group (out·G)
//   zero points  16 bits per group, asymmetric only
//   kept values  16 bits each
//   kept places  sparse: a 32-bit flat index per kept weight; columns: a 32-bit column index per column
// Effective bits per weight = all of that over N, summed over the scope. The model size adds every
// tensor outside the scope at `otherBits` (16 by default: the FP16 checkpoint one would ship), each
// stored tensor once (a tied matrix shared by two names counts once; an untied quantised copy of a
// tied matrix counts as an extra tensor, because a checkpoint then has to store both).

import type { Model } from '../model/model.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { numel } from '../tensor/tensor.ts';
import type { QuantizedTensor } from './rtn.ts';

export const SCALE_BITS = 16;
export const ZERO_BITS = 16;
export const KEPT_VALUE_BITS = 16;
export const SPARSE_INDEX_BITS = 32;
export const COLUMN_INDEX_BITS = 32;

export interface BitBreakdown {
  readonly levels: number;
  readonly scales: number;
  readonly zeros: number;
  readonly keptValues: number;
  readonly keptIndices: number;
  readonly total: number;
}

export interface TensorBits extends BitBreakdown {
  readonly name: string;
  readonly weights: number;
  readonly kept: number;
  readonly bitsPerWeight: number;
}

export interface BitAccount {
  /** Weights in the quantised scope. */
  readonly weights: number;
  /** Weights kept in full precision. */
  readonly kept: number;
  readonly bits: BitBreakdown;
  /** Effective bits per weight over the scope: bits.total / weights. */
  readonly bitsPerWeight: number;
  /** Bytes of the quantised scope. */
  readonly scopeBytes: number;
  /** Bytes of the whole model: scope + the other tensors at `otherBits`. */
  readonly modelBytes: number;
  /** Bytes of the same model with every tensor at `otherBits` (the unquantised baseline). */
  readonly baselineBytes: number;
  readonly otherBits: number;
}

/** The bits one quantised matrix takes. */
export function tensorBits(name: string, q: QuantizedTensor): TensorBits {
  const n = q.inDim * q.outDim;
  const groups = q.outDim * q.numGroups;
  const kept = q.kept ? q.kept.indices.length : 0;
  const cols = q.kept?.columns?.length ?? 0;
  const levels = (cols ? n - cols * q.outDim : n) * q.bits;
  const scales = groups * SCALE_BITS;
  const zeros = q.scheme === 'asym' ? groups * ZERO_BITS : 0;
  const keptValues = kept * KEPT_VALUE_BITS;
  const keptIndices = cols ? cols * COLUMN_INDEX_BITS : kept * SPARSE_INDEX_BITS;
  const total = levels + scales + zeros + keptValues + keptIndices;
  return {
    name,
    weights: n,
    kept,
    levels,
    scales,
    zeros,
    keptValues,
    keptIndices,
    total,
    bitsPerWeight: n ? total / n : 0,
  };
}

function sum(parts: readonly BitBreakdown[]): BitBreakdown {
  const z = { levels: 0, scales: 0, zeros: 0, keptValues: 0, keptIndices: 0, total: 0 };
  for (const p of parts) {
    z.levels += p.levels;
    z.scales += p.scales;
    z.zeros += p.zeros;
    z.keptValues += p.keptValues;
    z.keptIndices += p.keptIndices;
    z.total += p.total;
  }
  return z;
}

/**
 * Accounts a quantised model. `quantised` maps every model name that holds a quantised tensor to the
 * bits of that tensor (both names of a tied, replaced matrix map to the same entry).
 */
export function accountBits(qModel: Model, quantised: ReadonlyMap<string, TensorBits>, otherBits = 16): BitAccount {
  const seenTensor = new Set<Tensor>();
  const seenBits = new Set<TensorBits>();
  let modelBits = 0;
  let baselineBits = 0;
  const parts: TensorBits[] = [];
  for (const [name, t] of qModel.weights) {
    if (seenTensor.has(t)) continue; // a tied matrix is stored once
    seenTensor.add(t);
    baselineBits += numel(t.shape) * otherBits;
    const b = quantised.get(name);
    if (b) {
      if (seenBits.has(b)) continue;
      seenBits.add(b);
      parts.push(b);
      modelBits += b.total;
    } else modelBits += numel(t.shape) * otherBits;
  }
  const bits = sum(parts);
  const weights = parts.reduce((a, p) => a + p.weights, 0);
  const kept = parts.reduce((a, p) => a + p.kept, 0);
  return {
    weights,
    kept,
    bits,
    bitsPerWeight: weights ? bits.total / weights : 0,
    scopeBytes: Math.ceil(bits.total / 8),
    modelBytes: Math.ceil(modelBits / 8),
    baselineBytes: Math.ceil(baselineBits / 8),
    otherBits,
  };
}

/** Expected effective bits per weight for a plan, without quantising (for planning and reports). */
export function expectedBitsPerWeight(p: {
  bits: number;
  groupSize: number;
  scheme: 'sym' | 'asym';
  share: number;
  granularity: 'weight' | 'column';
  outDim?: number;
}): number {
  const perGroup = (SCALE_BITS + (p.scheme === 'asym' ? ZERO_BITS : 0)) / p.groupSize;
  if (p.granularity === 'weight') return p.bits + perGroup + p.share * (KEPT_VALUE_BITS + SPARSE_INDEX_BITS);
  // columns: the kept share leaves the level grid; the column index is negligible per weight
  return (
    (1 - p.share) * p.bits +
    perGroup +
    p.share * KEPT_VALUE_BITS +
    (p.outDim ? (p.share * COLUMN_INDEX_BITS) / p.outDim : 0)
  );
}
