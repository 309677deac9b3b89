// Preservation: choose a share of the weights to keep in full precision while the rest is quantised.
// References (RESEARCH.md §1): SpQR (single outlier weights kept in a sparse FP16 list), OWQ (whole
// "weak" input columns ranked by diag(H)·‖W:,j‖²), AWQ and Wanda (salience |w_ij|·‖X_j‖₂).
//
// Criteria, for the weight w_ij of output channel i and input j, with X [tokens, inDim] the layer's
// calibration input and H = XᵀX (so H_jj = Σ_t x_tj² = ‖X_j‖₂²):
//   magnitude   |w_ij|
//   activation  |w_ij| · ‖X_j‖₂            (Wanda / AWQ salience)
//   hessian     w_ij² · H_jj               (the OBS / OWQ saliency with the diagonal of H)
//   random      a seeded uniform draw per weight (or column): the control arm of a preservation study —
//               the same number of weights kept, chosen without looking at them (issue 12: "equal bits,
//               and a control"); the draw depends only on (seed, tensor name, index), so it is reproducible
// Note: with single-weight granularity `hessian` = `activation`², a monotone transform, so the two
// select exactly the same weights; they differ for whole columns, where the column score is the sum
// over its output channels (Σ_i |w_ij|·‖X_j‖ versus H_jj·‖W:,j‖²).
//
// Granularity: `weight` keeps single weights (sparse); `column` keeps whole input columns of a matrix
// (dense, OWQ-style: every output channel's weight at input j).
// Budget: a share p of the weights, counted in weights (floor(p·N)):
//   global  one ranking over every tensor in scope;
//   layer   each block layer keeps p of its own weights (the output matrix and embeddings, having no
//           layer, each form their own group);
//   map     an explicit share per layer index; tensors of unlisted layers (and the output matrix and
//           embeddings) use `rest` (default 0).
// Ties are broken by tensor order, then by flat index, so the selection is deterministic. Columns are
// ranked by their mean score per weight (what one preserved weight of that column buys) and taken
// greedily while they fit in the budget: a column that would overshoot is skipped, smaller ones after
// it may still fit. Exact top-k for single weights uses a two-pass radix select on the float32 bit
// patterns of the scores (monotone for non-negative floats): no sort of millions of scores. The
// naive twin sorts.

import { ConfigError } from '../errors.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { Rng, deriveSeed } from '../util/rng.ts';
import type { QuantTarget } from './scope.ts';

export type Criterion = 'magnitude' | 'activation' | 'hessian' | 'random';
export const CRITERIA: readonly Criterion[] = ['magnitude', 'activation', 'hessian', 'random'];
export type Granularity = 'weight' | 'column';
export const GRANULARITIES: readonly Granularity[] = ['weight', 'column'];

export type Budget =
  | { readonly kind: 'global'; readonly share: number }
  | { readonly kind: 'layer'; readonly share: number }
  | { readonly kind: 'map'; readonly shares: ReadonlyMap<number, number>; readonly rest?: number };

/** Calibration statistics of the block linears' inputs. */
export interface ActivationStats {
  /** Tokens that went through the model. */
  readonly tokens: number;
  /** Per linear weight name: Σ_t x_tj² for each input j (= diag(XᵀX)), float64. */
  readonly sumSq: ReadonlyMap<string, Float64Array>;
}

export interface PreserveOptions {
  readonly criterion: Criterion;
  readonly granularity: Granularity;
  readonly budget: Budget;
  /** Needed by `activation` and `hessian`. */
  readonly stats?: ActivationStats | null;
  /** Seed of the `random` criterion (default 0). */
  readonly seed?: number;
}

/** The preserved weights of one tensor. */
export interface Selection {
  /** 1 = keep in full precision; stored layout. */
  readonly keep: Uint8Array;
  /** Input columns kept whole (granularity `column`), ascending; null for `weight`. */
  readonly columns: Uint32Array | null;
  /** Number of kept weights. */
  readonly count: number;
}

export interface PreserveInput {
  readonly target: QuantTarget;
  readonly weight: Tensor;
}

const f = Math.fround;

export function needsCalibration(c: Criterion): boolean {
  return c === 'activation' || c === 'hessian';
}

/** A share must lie in [0, 1): keeping everything is not quantisation. */
export function checkShare(share: number, what = 'preserved share'): void {
  if (typeof share !== 'number' || !Number.isFinite(share) || share < 0 || share >= 1) {
    throw new ConfigError(`${what} must be a number in [0, 1) (a fraction, e.g. 0.05 for 5 %), got ${share}`);
  }
}

export function checkPreserveOptions(opts: PreserveOptions, inputs: readonly PreserveInput[]): void {
  if (!CRITERIA.includes(opts.criterion)) {
    throw new ConfigError(`unknown preservation criterion "${opts.criterion}"; use one of ${CRITERIA.join(', ')}`);
  }
  if (!GRANULARITIES.includes(opts.granularity)) {
    throw new ConfigError(
      `unknown preservation granularity "${opts.granularity}"; use weight (sparse) or column (dense)`,
    );
  }
  const b = opts.budget;
  if (b.kind === 'map') {
    for (const [l, s] of b.shares) checkShare(s, `preserved share of layer ${l}`);
    if (b.rest !== undefined) checkShare(b.rest, 'preserved share of the other tensors');
  } else checkShare(b.share);
  if (needsCalibration(opts.criterion)) {
    if (!opts.stats) {
      throw new ConfigError(
        `criterion "${opts.criterion}" needs calibration activations; give calibration text (--calibration-text FILE or --calibration-languages …) or use --criterion magnitude`,
      );
    }
    for (const { target } of inputs) {
      if (target.kind !== 'linear') {
        throw new ConfigError(
          `criterion "${opts.criterion}" uses the activations of block linears only, but the scope includes ${target.name}; quantise only block linears or use --criterion magnitude`,
        );
      }
      const s = opts.stats.sumSq.get(target.name);
      if (!s) throw new Error(`preserve: no calibration statistics for ${target.name}`);
      if (s.length !== target.inDim)
        throw new Error(`preserve: statistics of ${target.name} have ${s.length} inputs, expected ${target.inDim}`);
      for (const v of s) {
        if (!Number.isFinite(v)) {
          throw new ConfigError(
            `calibration activations entering ${target.name} are not finite; the model overflows on the calibration text — use other text`,
          );
        }
      }
    }
  }
}

/** Per-input factor of the criterion: 1 (magnitude), ‖X_j‖ (activation) or H_jj (hessian). */
function inputFactor(
  criterion: Criterion,
  inp: PreserveInput,
  stats: ActivationStats | null | undefined,
): Float64Array | null {
  if (criterion === 'magnitude') return null;
  const s = stats!.sumSq.get(inp.target.name)!;
  if (criterion === 'hessian') return s;
  const r = new Float64Array(s.length);
  for (let j = 0; j < s.length; j++) r[j] = Math.sqrt(s[j]);
  return r;
}

/** Float32 score of every weight of one tensor, stored layout. */
export function scoreWeights(
  criterion: Criterion,
  inp: PreserveInput,
  stats?: ActivationStats | null,
  seed = 0,
): Float32Array {
  const { target, weight } = inp;
  const w = weight.data;
  const out = new Float32Array(w.length);
  if (criterion === 'random') return randomScores(out, seed, target.name);
  const fac = inputFactor(criterion, inp, stats);
  if (!fac) {
    for (let k = 0; k < w.length; k++) out[k] = Math.abs(w[k]);
    return out;
  }
  const { inDim, outDim } = target;
  const sq = criterion === 'hessian';
  if (target.layout === 'in_out') {
    for (let j = 0; j < inDim; j++) {
      const a = fac[j];
      for (let o = 0, k = j * outDim; o < outDim; o++, k++) out[k] = f(sq ? w[k] * w[k] * a : Math.abs(w[k]) * a);
    }
  } else {
    for (let o = 0; o < outDim; o++) {
      for (let j = 0, k = o * inDim; j < inDim; j++, k++)
        out[k] = f(sq ? w[k] * w[k] * fac[j] : Math.abs(w[k]) * fac[j]);
    }
  }
  return out;
}

/**
 * Seeded uniform scores in (0, 1] for the `random` criterion, drawn in index order from a stream
 * named by the tensor: the same seed gives the same choice whatever other tensors are in scope.
 */
function randomScores<T extends Float32Array | Float64Array>(out: T, seed: number, name: string): T {
  const rng = new Rng(deriveSeed(seed, 'preserve-random', name));
  // 1 − u keeps every score above 0, so a score never ties with an unscored (zero) weight.
  for (let k = 0; k < out.length; k++) out[k] = 1 - rng.next();
  return out;
}

/** Column scores (sum over output channels of the per-weight score), float64, length inDim. */
export function scoreColumns(
  criterion: Criterion,
  inp: PreserveInput,
  stats?: ActivationStats | null,
  seed = 0,
): Float64Array {
  const { target, weight } = inp;
  const w = weight.data;
  const { inDim, outDim } = target;
  const out = new Float64Array(inDim);
  // Random columns: one draw per column, times its size so that the mean score per weight is the draw.
  if (criterion === 'random') {
    randomScores(out, seed, target.name);
    for (let j = 0; j < inDim; j++) out[j] *= outDim;
    return out;
  }
  const p = criterion === 'hessian' ? 2 : 1;
  for (let k = 0; k < w.length; k++) {
    const j = target.layout === 'in_out' ? Math.floor(k / outDim) : k % inDim;
    out[j] += p === 2 ? w[k] * w[k] : Math.abs(w[k]);
  }
  const fac = inputFactor(criterion, inp, stats);
  if (fac) for (let j = 0; j < inDim; j++) out[j] *= fac[j];
  return out;
}

/** Budget groups: indices of inputs ranked together, and the share each group keeps. */
export function budgetGroups(inputs: readonly PreserveInput[], budget: Budget): { members: number[]; share: number }[] {
  if (budget.kind === 'global') return [{ members: inputs.map((_, i) => i), share: budget.share }];
  const byKey = new Map<string, number[]>();
  inputs.forEach((inp, i) => {
    const key = inp.target.layer !== undefined ? `L${inp.target.layer}` : inp.target.kind;
    if (!byKey.has(key)) byKey.set(key, []);
    byKey.get(key)!.push(i);
  });
  const out: { members: number[]; share: number }[] = [];
  for (const members of byKey.values()) {
    const layer = inputs[members[0]].target.layer;
    let share: number;
    if (budget.kind === 'layer') share = budget.share;
    else share = (layer !== undefined ? budget.shares.get(layer) : undefined) ?? budget.rest ?? 0;
    out.push({ members, share });
  }
  return out;
}

/** floor(share·n), tolerant of float noise such as 0.29·100 = 28.999999999999996. */
export function budgetCount(share: number, n: number): number {
  return Math.min(n, Math.floor(share * n + 1e-6));
}

function emptySelections(inputs: readonly PreserveInput[], granularity: Granularity): Selection[] {
  return inputs.map((inp) => ({
    keep: new Uint8Array(inp.weight.data.length),
    columns: granularity === 'column' ? new Uint32Array(0) : null,
    count: 0,
  }));
}

/** Exact top-k over the group's scores by a two-pass radix select on float32 bits; marks `keep`. */
function selectTopWeights(scores: (i: number) => Float32Array, members: number[], k: number, sel: Selection[]): void {
  if (k <= 0) return;
  // Scores are cached between the three passes when the group is small; large groups recompute them
  // (a multiply per weight) rather than hold every score of a large model at once.
  const total = members.reduce((a, m) => a + sel[m].keep.length, 0);
  const cache = total <= 1 << 23 ? new Map<number, Uint32Array>() : null;
  const keys = (m: number): Uint32Array => {
    let u = cache?.get(m);
    if (!u) {
      u = new Uint32Array(scores(m).buffer);
      cache?.set(m, u);
    }
    return u;
  };
  const hist = new Float64Array(65536);
  for (const m of members) {
    const u = keys(m);
    for (let t = 0; t < u.length; t++) hist[u[t] >>> 16]++;
  }
  let above = 0; // weights whose key is above the bucket found
  let hiB = 65535;
  for (; hiB > 0; hiB--) {
    if (above + hist[hiB] >= k) break;
    above += hist[hiB];
  }
  hist.fill(0);
  for (const m of members) {
    const u = keys(m);
    for (let t = 0; t < u.length; t++) if (u[t] >>> 16 === hiB) hist[u[t] & 0xffff]++;
  }
  let loB = 65535;
  for (; loB > 0; loB--) {
    if (above + hist[loB] >= k) break;
    above += hist[loB];
  }
  const T = ((hiB << 16) | loB) >>> 0;
  let ties = k - above; // weights with key exactly T still to take, in tensor then index order
  for (const m of members) {
    const u = keys(m);
    const keep = sel[m].keep;
    let count = 0;
    for (let t = 0; t < u.length; t++) {
      const key = u[t];
      if (key > T || (key === T && ties > 0)) {
        if (key === T) ties--;
        keep[t] = 1;
        count++;
      }
    }
    sel[m] = { ...sel[m], count };
  }
}

function selectColumns(
  colScores: (i: number) => Float64Array,
  inputs: readonly PreserveInput[],
  members: number[],
  k: number,
  sel: Selection[],
): void {
  if (k <= 0) return;
  const units: { m: number; j: number; key: number; cost: number }[] = [];
  for (const m of members) {
    const s = colScores(m);
    const cost = inputs[m].target.outDim;
    for (let j = 0; j < s.length; j++) units.push({ m, j, key: s[j] / cost, cost });
  }
  units.sort((a, b) => b.key - a.key || a.m - b.m || a.j - b.j);
  let left = k;
  const chosen = new Map<number, number[]>();
  for (const u of units) {
    if (u.cost > left) continue;
    left -= u.cost;
    if (!chosen.has(u.m)) chosen.set(u.m, []);
    chosen.get(u.m)!.push(u.j);
    if (left === 0) break;
  }
  for (const [m, cols] of chosen) {
    cols.sort((a, b) => a - b);
    const { layout, inDim, outDim } = inputs[m].target;
    const keep = sel[m].keep;
    for (const j of cols) {
      for (let o = 0; o < outDim; o++) keep[layout === 'in_out' ? j * outDim + o : o * inDim + j] = 1;
    }
    sel[m] = { keep, columns: Uint32Array.from(cols), count: cols.length * outDim };
  }
}

/** Chooses the preserved weights of every input tensor. Returns one Selection per input, same order. */
export function selectPreserved(inputs: readonly PreserveInput[], opts: PreserveOptions): Selection[] {
  checkPreserveOptions(opts, inputs);
  const sel = emptySelections(inputs, opts.granularity);
  for (const { members, share } of budgetGroups(inputs, opts.budget)) {
    const n = members.reduce((a, m) => a + inputs[m].weight.data.length, 0);
    const k = budgetCount(share, n);
    if (opts.granularity === 'weight') {
      selectTopWeights((m) => scoreWeights(opts.criterion, inputs[m], opts.stats, opts.seed), members, k, sel);
    } else {
      selectColumns((m) => scoreColumns(opts.criterion, inputs[m], opts.stats, opts.seed), inputs, members, k, sel);
    }
  }
  return sel;
}

/** The naive twin for single weights: score everything, sort, take the first k of each group. */
export function selectPreservedNaive(inputs: readonly PreserveInput[], opts: PreserveOptions): Selection[] {
  checkPreserveOptions(opts, inputs);
  if (opts.granularity !== 'weight') return selectPreserved(inputs, opts);
  const sel = emptySelections(inputs, 'weight');
  for (const { members, share } of budgetGroups(inputs, opts.budget)) {
    const all: { s: number; m: number; t: number }[] = [];
    for (const m of members) {
      const s = scoreWeights(opts.criterion, inputs[m], opts.stats, opts.seed);
      for (let t = 0; t < s.length; t++) all.push({ s: s[t], m, t });
    }
    all.sort((a, b) => b.s - a.s || a.m - b.m || a.t - b.t);
    const k = budgetCount(share, all.length);
    const counts = new Map<number, number>();
    for (let r = 0; r < k; r++) {
      sel[all[r].m].keep[all[r].t] = 1;
      counts.set(all[r].m, (counts.get(all[r].m) ?? 0) + 1);
    }
    for (const [m, c] of counts) sel[m] = { ...sel[m], count: c };
  }
  return sel;
}
