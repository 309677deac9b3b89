// Language-level inference for the disparity between low- and high-resource languages: the
// language, not the text unit, is the unit of inference. disparityRatio (bootstrap.ts) resamples
// text units and so answers "how much would the ratio move with other text for these 20
// languages"; the functions here also let the languages vary, as if each group's languages were a
// sample from a population of such languages.
//
// Two-stage (hierarchical) bootstrap — Davison & Hinkley, "Bootstrap Methods and their
// Application" (1997) §3.8; Field & Welsh, "Bootstrapping clustered data", JRSS B 69 (2007). Each
// resample draws languages with replacement within each group (low from low, high from high), then,
// for each drawn language, draws its own units with replacement (as many as it has) and recomputes
// its degradation on them; the group means give the ratio and the difference. Intervals are
// percentile intervals, not BCa: BCa's bias correction and acceleration are derived for one i.i.d.
// sample, and here the resampling distribution is not a plug-in copy of the sampling distribution —
// redrawing units on top of languages adds the within-language variance a second time (D&H §3.8,
// the two-stage scheme is conservative by about that term), which z₀ would misread as bias, while a
// leave-one-language-out jackknife for the acceleration ignores the unit stage. With ~13 units per
// language the added within-language term is small next to the spread between languages.
//
// Permutation test — Good, "Permutation, Parametric and Bootstrap Tests of Hypotheses" (2005);
// Phipson & Smyth, "Permutation p-values should never be zero", SAGA 9 (2010). The statistic is
// mean(low) − mean(high) over per-language degradations (each on all its units); group labels are
// permuted. All C(n_low + n_high, n_low) relabellings are enumerated when there are at most
// `permutations` of them (exact p, the observed labelling included); otherwise B random ones give
// p = (1 + #{stat ≥ observed}) / (1 + B).
//
// Spearman interval: the rank correlation over languages with a percentile bootstrap over pairs
// (languages); ties get average ranks.

import { DataError } from '../errors.ts';
import { deriveSeed, Rng } from '../util/rng.ts';
import { percentileInterval, type Interval, type LanguageUnits } from './bootstrap.ts';

export interface LanguageLevelOptions<U> {
  readonly low: readonly LanguageUnits<U>[];
  readonly high: readonly LanguageUnits<U>[];
  /** A language's degradation from a sample of its units (duplicates possible; the array is reused: do not keep it). */
  readonly degradation: (units: readonly U[]) => number;
  readonly seed: number;
  /** Two-stage bootstrap resamples (default 1000). */
  readonly resamples?: number;
  /** Confidence level (default 0.95). */
  readonly level?: number;
  /** Most relabellings for the permutation test; exact enumeration when all fit (default 10000). */
  readonly permutations?: number;
}

export interface LanguageLevelResult {
  /** Two-stage bootstrap of (mean low)/(mean high); null when unstable. */
  readonly ratio: Interval | null;
  /** Two-stage bootstrap of mean low − mean high. */
  readonly diff: Interval;
  readonly highMean: Interval;
  readonly lowMean: Interval;
  /** True when the high-group mean is ≤ 0 or its two-stage interval contains 0. */
  readonly unstable: boolean;
  readonly reason?: string;
  /** One-sided permutation p-value for "low mean − high mean ≥ observed" (group labels permuted). */
  readonly permP: number;
  /** True when every relabelling was enumerated. */
  readonly permExact: boolean;
  /** Relabellings used. */
  readonly permCount: number;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new DataError(`${name} ${v} must be a positive whole number`);
  return v;
}

function checkLevel(level: number): number {
  if (!(level > 0 && level < 1)) throw new DataError(`level ${level} must be between 0 and 1 (e.g. 0.95)`);
  return level;
}

/**
 * Disparity between low- and high-resource languages with the language as the unit of inference:
 * two-stage bootstrap intervals of the group means, their ratio and difference, and a permutation
 * test of "the low-resource languages lose more".
 */
export function languageLevelDisparity<U>(o: LanguageLevelOptions<U>): LanguageLevelResult {
  const B = positiveInt('language-level bootstrap: resamples', o.resamples ?? 1000);
  const level = checkLevel(o.level ?? 0.95);
  const permutations = positiveInt('language-level permutation test: permutations', o.permutations ?? 10000);
  if (o.low.length === 0 || o.high.length === 0) {
    throw new DataError(
      `language-level disparity needs at least one low-resource and one high-resource language (got ${o.low.length} low, ${o.high.length} high); check the language groups`,
    );
  }
  const rows = (group: readonly LanguageUnits<U>[]): U[][] =>
    group.map((l) => {
      if (l.units.size === 0)
        throw new DataError(
          `language-level disparity: ${l.lang} has no units; drop it or use a larger evaluation text`,
        );
      return [...l.units.values()];
    });
  const lowRows = rows(o.low);
  const highRows = rows(o.high);

  // Each language's degradation on all its units (the permutation test's data and the estimates).
  const full = (group: readonly LanguageUnits<U>[], rs: U[][]): Float64Array =>
    Float64Array.from(rs, (r, i) => {
      const d = o.degradation(r);
      if (!Number.isFinite(d))
        throw new DataError(
          `language-level disparity: the degradation of ${group[i].lang} on all its units is ${d}, not a number`,
        );
      return d;
    });
  const lowD = full(o.low, lowRows);
  const highD = full(o.high, highRows);
  const lowEst = meanOf(lowD);
  const highEst = meanOf(highD);

  const rng = new Rng(o.seed);
  const sample: U[] = [];
  // One stage-two draw for a group: languages with replacement, then each one's units.
  const groupDraw = (rs: U[][]): number => {
    const k = rs.length;
    let s = 0;
    for (let j = 0; j < k; j++) {
      const r = rs[rng.int(k)];
      const m = r.length;
      sample.length = m;
      for (let i = 0; i < m; i++) sample[i] = r[rng.int(m)];
      s += o.degradation(sample);
    }
    return s / k;
  };
  const lowReps = new Float64Array(B);
  const highReps = new Float64Array(B);
  const ratioReps = new Float64Array(B);
  const diffReps = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    const lo = groupDraw(lowRows);
    const hi = groupDraw(highRows);
    lowReps[b] = lo;
    highReps[b] = hi;
    ratioReps[b] = lo / hi;
    diffReps[b] = lo - hi;
  }
  const lowMean = percentileInterval(lowEst, lowReps, level);
  const highMean = percentileInterval(highEst, highReps, level);
  const diff = percentileInterval(lowEst - highEst, diffReps, level);
  let reason: string | undefined;
  if (!(highEst > 0))
    reason = `the high-resource mean degradation is ${fmt(highEst)} (≤ 0): there is no loss to compare against`;
  else if (highMean.lo <= 0 && highMean.hi >= 0)
    reason = `the high-resource mean's ${Math.round(level * 100)} % language-level interval [${fmt(highMean.lo)}, ${fmt(highMean.hi)}] contains 0`;
  const unstable = reason !== undefined;

  const perm = permutationTest(lowD, highD, {
    seed: deriveSeed(o.seed, 'permutation'),
    permutations,
    alternative: 'greater',
  });
  return {
    ratio: unstable ? null : percentileInterval(lowEst / highEst, ratioReps, level),
    diff,
    highMean,
    lowMean,
    unstable,
    reason,
    permP: perm.p,
    permExact: perm.exact,
    permCount: perm.count,
  };
}

/**
 * Permutation test of mean(a) − mean(b): 'greater' (default) counts relabellings whose statistic
 * is ≥ the observed one, 'two-sided' those whose |statistic| is ≥ |observed|. Exact over all
 * C(|a|+|b|, |a|) relabellings when there are at most `permutations` (default 10000) of them,
 * otherwise Monte Carlo with p = (1 + hits) / (1 + permutations).
 */
export function permutationTest(
  a: readonly number[] | Float64Array,
  b: readonly number[] | Float64Array,
  o: { seed: number; permutations?: number; alternative?: 'greater' | 'two-sided' },
): { p: number; exact: boolean; count: number } {
  const maxPerm = positiveInt('permutation test: permutations', o.permutations ?? 10000);
  const alternative = o.alternative ?? 'greater';
  if (alternative !== 'greater' && alternative !== 'two-sided')
    throw new DataError(`permutation test: alternative ${String(alternative)} must be 'greater' or 'two-sided'`);
  if (a.length === 0 || b.length === 0)
    throw new DataError(`permutation test needs values in both groups (got ${a.length} and ${b.length})`);
  const k = a.length;
  const N = k + b.length;
  const pooled = new Float64Array(N);
  let total = 0;
  let scale = 0;
  for (let i = 0; i < N; i++) {
    const v = i < k ? a[i] : b[i - k];
    if (!Number.isFinite(v)) throw new DataError(`permutation test: value ${v} is not a finite number`);
    pooled[i] = v;
    total += v;
    scale = Math.max(scale, Math.abs(v));
  }
  const stat = (sumA: number): number => sumA / k - (total - sumA) / (N - k);
  let sumObs = 0;
  for (let i = 0; i < k; i++) sumObs += pooled[i];
  const obs = stat(sumObs);
  // Relabellings with the same split of values give the same statistic up to rounding (different
  // summation order): count them as ties, not as smaller, with a tolerance far above rounding.
  const tol = 1e-10 * scale;
  const twoSided = alternative === 'two-sided';
  const extreme = (s: number): boolean => (twoSided ? Math.abs(s) >= Math.abs(obs) - tol : s >= obs - tol);

  // C(N, k), stopping as soon as it exceeds maxPerm (it can be astronomically large).
  let combos = 1;
  for (let i = 1; i <= k && combos <= maxPerm; i++) combos = (combos * (N - k + i)) / i;
  if (combos <= maxPerm) {
    // Exact: every k-subset of the pooled indices, in lexicographic order.
    const c = Int32Array.from({ length: k }, (_, i) => i);
    let hits = 0;
    let count = 0;
    for (;;) {
      let s = 0;
      for (let i = 0; i < k; i++) s += pooled[c[i]];
      if (extreme(stat(s))) hits++;
      count++;
      // Advance: the rightmost index that can still move right, then reset the ones after it.
      let i = k - 1;
      while (i >= 0 && c[i] === N - k + i) i--;
      if (i < 0) break;
      c[i]++;
      for (let j = i + 1; j < k; j++) c[j] = c[j - 1] + 1;
    }
    return { p: hits / count, exact: true, count };
  }
  // Monte Carlo: a partial Fisher–Yates shuffle puts a uniform random k-subset in the first k slots
  // (the array need not be restored between draws: a shuffle of a shuffle is still uniform).
  const rng = new Rng(o.seed);
  const work = Float64Array.from(pooled);
  let hits = 0;
  for (let r = 0; r < maxPerm; r++) {
    let s = 0;
    for (let i = 0; i < k; i++) {
      const j = i + rng.int(N - i);
      const t = work[i];
      work[i] = work[j];
      work[j] = t;
      s += work[i];
    }
    if (extreme(stat(s))) hits++;
  }
  return { p: (1 + hits) / (1 + maxPerm), exact: false, count: maxPerm };
}

/** Ranks 1…n of the values, ties getting the average of the ranks they span. */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => values[i] - values[j]);
  const r = new Float64Array(n);
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && values[order[j + 1]] === values[order[i]]) j++;
    const avg = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) r[order[t]] = avg;
    i = j + 1;
  }
  return r;
}

/**
 * Spearman's rank correlation (Pearson's on average ranks). NaN when either variable is constant:
 * there is no order to correlate (src/pipeline/stats.ts has its own convention for reports).
 */
export function spearmanRho(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length) throw new DataError(`spearman: lengths differ (${n} vs ${y.length})`);
  const rx = averageRanks(x);
  const ry = averageRanks(y);
  const m = (n + 1) / 2; // the mean of the ranks 1…n, ties or not
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = rx[i] - m;
    const dy = ry[i] - m;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (!(sxx > 0 && syy > 0)) return NaN;
  // sqrt(sxx·sxx) is exactly sxx in IEEE arithmetic, so identical rankings give exactly 1.
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/**
 * Percentile bootstrap interval of Spearman's rho over pairs (x[i], y[i]) — one pair per language,
 * languages resampled with replacement. Resamples where a variable is constant are dropped.
 */
export function spearmanInterval(
  x: readonly number[],
  y: readonly number[],
  o: { seed: number; resamples?: number; level?: number },
): Interval {
  const B = positiveInt('spearman interval: resamples', o.resamples ?? 1000);
  const level = checkLevel(o.level ?? 0.95);
  const n = x.length;
  if (n !== y.length)
    throw new DataError(`spearman interval: ${n} x values but ${y.length} y values; pass one pair per language`);
  if (n < 3) throw new DataError(`spearman interval needs at least 3 pairs (got ${n})`);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(x[i]) || !Number.isFinite(y[i]))
      throw new DataError(`spearman interval: pair ${i} (${x[i]}, ${y[i]}) is not a pair of finite numbers`);
  }
  const rng = new Rng(o.seed);
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  const reps = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) {
      const j = rng.int(n);
      xs[i] = x[j];
      ys[i] = y[j];
    }
    reps[b] = spearmanRho(xs, ys);
  }
  return percentileInterval(spearmanRho(x, y), reps, level);
}

function meanOf(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return s / v.length;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(3) : String(x);
}
