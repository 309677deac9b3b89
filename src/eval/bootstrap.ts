// Seeded bootstrap intervals over aligned text units (UDHR articles, FLORES sentences), and the
// disparity ratio of DESIGN.md §4 with a paired bootstrap across languages.
// References: Efron & Tibshirani, "An Introduction to the Bootstrap" (1993), ch. 13 (percentile
// interval) and ch. 14 (BCa); Efron, "Better bootstrap confidence intervals", JASA 82 (1987);
// DiCiccio & Efron, "Bootstrap confidence intervals", Statistical Science 11 (1996); Koehn,
// "Statistical significance tests for machine translation evaluation" (2004) for resampling whole
// aligned units and pairing the systems/languages compared on the same draws.
//
// Percentile interval at level 1−α: the α/2 and 1−α/2 quantiles (type 7) of the statistic over B
// resamples. BCa (the default) reads the same sorted resamples at adjusted levels
//   α₁ = Φ(z₀ + (z₀ + z_{α/2}) / (1 − a(z₀ + z_{α/2}))),  α₂ = the same with z_{1−α/2},
// where the bias correction z₀ = Φ⁻¹(share of resamples below the estimate, ties counted half) and
// the acceleration a = Σ(θ̄₍.₎ − θ₍ᵢ₎)³ / (6 [Σ(θ̄₍.₎ − θ₍ᵢ₎)²]^{3/2}) from the jackknife values θ₍ᵢ₎
// (the statistic with unit i left out). BCa is second-order accurate (E&T §14.3): it corrects the
// percentile interval for the bias and skew of the statistic (a ratio is skewed).
//
// The estimate is the statistic on the original units. Draws use src/util/rng.ts, so the same seed
// gives the same interval on every machine. Resamples whose statistic is NaN (e.g. an empty
// denominator) are dropped; `resamplesUsed` says how many were kept. Where BCa is not defined (every
// resample on one side of the estimate, all resamples equal, the adjustment not monotone) the
// percentile interval is returned with `method: 'percentile'` and the reason in `fallback`.
//
// Small samples (`expand`, on by default; `expand: false` gives the textbook intervals): both
// intervals use the plug-in spread of the resamples, which is too narrow for few units — by
// √((n−1)/n) and by using z where a t quantile belongs. BCa corrects bias and skew, not this: in
// the simulation of test/eval/coverage.test.ts (13 units) a nominal 95 % textbook BCa interval of
// the disparity ratio covers about 89 %, the percentile one about 90 %, and both about 93 % once
// expanded.
// Hesterberg's expansion ("What teachers should know about the bootstrap", The American
// Statistician 69, 2015) replaces the normal tail quantile z_{α/2} by √(n/(n−1))·t_{α/2,n−1}: the
// percentile interval reads the quantiles Φ(that) and 1 − Φ(that), BCa uses it in place of z_{α/2}
// (our extension of the same idea; the simulation there checks it).

import { DataError } from '../errors.ts';
import { Rng } from '../util/rng.ts';
import { quantileSorted } from './metrics.ts';
import { normalCdf, normalQuantile, studentTQuantile } from './normal.ts';

export type IntervalMethod = 'bca' | 'percentile';

export interface BootstrapOptions {
  /** PRNG seed (required: results must be reproducible). */
  readonly seed: number;
  /** Number of resamples B (default 1000; BCa wants ≥ 1000 for its tail quantiles). */
  readonly resamples?: number;
  /** Confidence level (default 0.95). */
  readonly level?: number;
  /** Interval method (default 'bca'). */
  readonly method?: IntervalMethod;
  /** Widen for few units with Hesterberg's small-sample expansion (default true; see above). */
  readonly expand?: boolean;
}

export interface Interval {
  /** The statistic on the original units. */
  readonly estimate: number;
  /** Lower and upper bounds. */
  readonly lo: number;
  readonly hi: number;
  readonly level: number;
  /** Resamples whose statistic was a number (NaN ones are dropped). */
  readonly resamplesUsed: number;
  /** How the bounds were read off the resamples. */
  readonly method: IntervalMethod;
  /** Why BCa was asked for but the percentile interval is given (absent otherwise). */
  readonly fallback?: string;
  /** BCa bias correction z₀ and acceleration a (BCa only). */
  readonly z0?: number;
  readonly acceleration?: number;
  /** True when the nominal level was expanded for the number of units (`expand`). */
  readonly expanded?: boolean;
}

function checkOptions(o: BootstrapOptions): {
  seed: number;
  B: number;
  level: number;
  method: IntervalMethod;
  expand: boolean;
} {
  const B = o.resamples ?? 1000;
  const level = o.level ?? 0.95;
  const method = o.method ?? 'bca';
  if (!Number.isInteger(B) || B < 1)
    throw new DataError(`bootstrap: resamples ${B} must be a positive whole number (e.g. 1000)`);
  if (!(level > 0 && level < 1)) throw new DataError(`bootstrap: level ${level} must be between 0 and 1 (e.g. 0.95)`);
  if (method !== 'bca' && method !== 'percentile')
    throw new DataError(`bootstrap: method ${String(method)} must be 'bca' or 'percentile'`);
  return { seed: o.seed, B, level, method, expand: o.expand ?? true };
}

/** The replicates that are numbers, sorted ascending. */
function sortedKept(replicates: ArrayLike<number>): Float64Array {
  let k = 0;
  for (let i = 0; i < replicates.length; i++) if (!Number.isNaN(replicates[i])) k++;
  const kept = new Float64Array(k);
  k = 0;
  for (let i = 0; i < replicates.length; i++) if (!Number.isNaN(replicates[i])) kept[k++] = replicates[i];
  return kept.sort();
}

/**
 * The lower-tail normal quantile to read the interval at: z_{(1−level)/2}, or, when `units` (n ≥ 2)
 * is given, the expanded √(n/(n−1))·t_{(1−level)/2, n−1}.
 */
function lowerZ(level: number, units: number | undefined): number {
  const tail = (1 - level) / 2;
  if (units === undefined || units < 2) return normalQuantile(tail);
  return Math.sqrt(units / (units - 1)) * studentTQuantile(tail, units - 1);
}

function percentileFromSorted(
  estimate: number,
  kept: Float64Array,
  level: number,
  units: number | undefined,
  fallback?: string,
): Interval {
  const expanded = units !== undefined && units >= 2;
  // Unexpanded: the tail probability itself, not Φ(Φ⁻¹(·)), so the bounds are exactly type-7 quantiles.
  const a = expanded ? normalCdf(lowerZ(level, units)) : (1 - level) / 2;
  const iv: Interval = {
    estimate,
    lo: quantileSorted(kept, a),
    hi: quantileSorted(kept, 1 - a),
    level,
    resamplesUsed: kept.length,
    method: 'percentile',
  };
  return { ...iv, ...(fallback === undefined ? {} : { fallback }), ...(expanded ? { expanded } : {}) };
}

/**
 * Percentile interval from the resampled statistics and the original estimate; with `expandUnits`
 * (the number of units resampled, ≥ 2) the small-sample expansion widens it.
 */
export function percentileInterval(
  estimate: number,
  replicates: ArrayLike<number>,
  level: number,
  expandUnits?: number,
): Interval {
  return percentileFromSorted(estimate, sortedKept(replicates), level, expandUnits);
}

/**
 * Jackknife acceleration a = Σd³ / (6 (Σd²)^{3/2}) with d = mean − θ₍ᵢ₎; NaN jackknife values are
 * left out. 0 when fewer than two values are numbers or they are all equal (no skew to correct).
 */
export function jackknifeAcceleration(jackknife: ArrayLike<number>): number {
  let n = 0;
  let s = 0;
  for (let i = 0; i < jackknife.length; i++) {
    const v = jackknife[i];
    if (Number.isFinite(v)) {
      s += v;
      n++;
    }
  }
  if (n < 2) return 0;
  const m = s / n;
  let s2 = 0;
  let s3 = 0;
  for (let i = 0; i < jackknife.length; i++) {
    const v = jackknife[i];
    if (!Number.isFinite(v)) continue;
    const d = m - v;
    s2 += d * d;
    s3 += d * d * d;
  }
  if (!(s2 > 0)) return 0;
  const a = s3 / (6 * Math.pow(s2, 1.5));
  return Number.isFinite(a) ? a : 0;
}

/**
 * BCa interval from the resampled statistics, the original estimate and the jackknife values of the
 * statistic (leave one unit out). Falls back to the percentile interval, saying why, where BCa is
 * not defined; never gives NaN bounds where the percentile interval gives numbers.
 */
export function bcaInterval(
  estimate: number,
  replicates: ArrayLike<number>,
  jackknife: ArrayLike<number>,
  level: number,
  expandUnits?: number,
): Interval {
  const kept = sortedKept(replicates);
  const n = kept.length;
  const fallback = (why: string) => percentileFromSorted(estimate, kept, level, expandUnits, why);
  if (n === 0) return fallback('no resample gave a number');
  if (!Number.isFinite(estimate)) return fallback(`the estimate is ${estimate}`);
  if (kept[0] === kept[n - 1]) return fallback('all resamples are equal');
  // Share below the estimate, ties counted half (a statistic on few discrete units ties often).
  let below = 0;
  let equal = 0;
  for (let i = 0; i < n; i++) {
    if (kept[i] < estimate) below++;
    else if (kept[i] === estimate) equal++;
    else break;
  }
  const share = (below + 0.5 * equal) / n;
  // Every resample on one side: z₀ = ±∞ and the BCa levels collapse to 0 or 1.
  if (share <= 0 || share >= 1)
    return fallback(`every resample is ${share <= 0 ? 'above' : 'below'} the estimate (bias correction infinite)`);
  const z0 = normalQuantile(share);
  const acceleration = jackknifeAcceleration(jackknife);
  const zl = lowerZ(level, expandUnits);
  const zh = -zl;
  const dl = 1 - acceleration * (z0 + zl);
  const dh = 1 - acceleration * (z0 + zh);
  // With |a| large the map from nominal to adjusted level stops being increasing (E&T §14.3):
  // the BCa levels no longer mean anything.
  if (!(dl > 0 && dh > 0)) return fallback(`acceleration ${fmt(acceleration)} too large for the BCa adjustment`);
  const a1 = normalCdf(z0 + (z0 + zl) / dl);
  const a2 = normalCdf(z0 + (z0 + zh) / dh);
  const lo = quantileSorted(kept, a1);
  const hi = quantileSorted(kept, a2);
  if (Number.isNaN(lo) || Number.isNaN(hi)) return fallback('the BCa quantiles are not numbers');
  const expanded = expandUnits !== undefined && expandUnits >= 2;
  return {
    estimate,
    lo,
    hi,
    level,
    resamplesUsed: n,
    method: 'bca',
    z0,
    acceleration,
    ...(expanded ? { expanded } : {}),
  };
}

/** Draws n indices in [0, n) with replacement. */
function drawIndices(rng: Rng, n: number, out: Int32Array): Int32Array {
  for (let i = 0; i < n; i++) out[i] = rng.int(n);
  return out;
}

/**
 * Bootstrap interval of `statistic` over `units`: each resample draws units.length units with
 * replacement and recomputes the statistic on them (the array handed to `statistic` is reused
 * between calls: do not keep it). BCa by default, with a leave-one-unit-out jackknife.
 */
export function bootstrap<U>(
  units: readonly U[],
  statistic: (sample: readonly U[]) => number,
  opts: BootstrapOptions,
): Interval {
  const { seed, B, level, method, expand } = checkOptions(opts);
  if (units.length === 0) throw new DataError('bootstrap: no units to resample; the evaluation text is empty');
  const rng = new Rng(seed);
  const n = units.length;
  const idx = new Int32Array(n);
  const sample: U[] = new Array(n);
  const reps = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    drawIndices(rng, n, idx);
    for (let i = 0; i < n; i++) sample[i] = units[idx[i]];
    reps[b] = statistic(sample);
  }
  const estimate = statistic(units);
  const expandUnits = expand ? n : undefined;
  if (method === 'percentile') return percentileInterval(estimate, reps, level, expandUnits);
  // Jackknife: the statistic on the n samples with one unit left out (none for a single unit).
  const jack = new Float64Array(n > 1 ? n : 0);
  if (n > 1) {
    const loo: U[] = new Array(n - 1);
    for (let leave = 0; leave < n; leave++) {
      for (let i = 0, k = 0; i < n; i++) if (i !== leave) loo[k++] = units[i];
      jack[leave] = statistic(loo);
    }
  }
  return bcaInterval(estimate, reps, jack, level, expandUnits);
}

/** One language's units, keyed by aligned unit id (article "12" is article "12" in every language). */
export interface LanguageUnits<U> {
  readonly lang: string;
  readonly units: ReadonlyMap<string, U>;
}

export interface DisparityOptions<U> extends BootstrapOptions {
  readonly low: readonly LanguageUnits<U>[];
  readonly high: readonly LanguageUnits<U>[];
  /** A language's degradation from a sample of its units (duplicates possible), e.g. ΔBPB of their totals. */
  readonly degradation: (units: readonly U[]) => number;
}

export interface DisparityResult {
  /** Mean degradation over low-resource languages, with its interval. */
  readonly lowMean: Interval;
  /** Mean degradation over high-resource languages, with its interval. */
  readonly highMean: Interval;
  /** low / high with its interval; null when unstable. */
  readonly ratio: Interval | null;
  /** low − high with its interval (same paired draws, same method); defined even when the ratio is not. */
  readonly diff: Interval;
  /** True when the high-resource mean is ≤ 0 or its interval contains 0: the ratio is not a number to report. */
  readonly unstable: boolean;
  /** Why it is unstable (for the report), or undefined. */
  readonly reason?: string;
  /** Unit ids resampled (the union over all languages, sorted). */
  readonly unitIds: readonly string[];
}

/**
 * Disparity ratio = mean degradation over low-resource languages / mean over high-resource ones,
 * with a paired bootstrap: each resample draws unit ids (with replacement) from the union of ids
 * once, and every language is recomputed on the same draw (a language lacking a drawn id skips it),
 * so that differences in content between resamples affect all languages alike. The BCa jackknife
 * leaves one unit id out of every language at once, the same unit the bootstrap resamples.
 *
 * Every interval here is conditional on these languages: it answers "how much would the ratio move
 * with other text", not "with other languages" (see language-level.ts for that).
 */
export function disparityRatio<U>(o: DisparityOptions<U>): DisparityResult {
  const { seed, B, level, method, expand } = checkOptions(o);
  if (o.low.length === 0 || o.high.length === 0) {
    throw new DataError(
      `disparity ratio needs at least one low-resource and one high-resource language (got ${o.low.length} low, ${o.high.length} high); check the language groups`,
    );
  }
  const idSet = new Set<string>();
  for (const l of [...o.low, ...o.high]) for (const id of l.units.keys()) idSet.add(id);
  const unitIds = [...idSet].sort(compareIds);
  const n = unitIds.length;
  if (n === 0) throw new DataError('disparity ratio: the languages have no units to resample');

  // Each language's units by id index (undefined where it lacks the id): no map look-ups in the loop.
  const table = (group: readonly LanguageUnits<U>[]): (U | undefined)[][] =>
    group.map((l) => unitIds.map((id) => l.units.get(id)));
  const lowTable = table(o.low);
  const highTable = table(o.high);
  const sample: U[] = [];
  // Mean over a group's languages of the degradation on the units `ids` (count `len`); a language
  // left with no unit makes the mean NaN (the resample is dropped).
  const groupMean = (rows: (U | undefined)[][], ids: Int32Array, len: number): number => {
    let s = 0;
    for (let l = 0; l < rows.length; l++) {
      const row = rows[l];
      sample.length = 0;
      for (let i = 0; i < len; i++) {
        const u = row[ids[i]];
        if (u !== undefined) sample.push(u);
      }
      s += sample.length ? o.degradation(sample) : NaN;
    }
    return s / rows.length;
  };

  const all = Int32Array.from({ length: n }, (_, i) => i);
  const lowEst = groupMean(lowTable, all, n);
  const highEst = groupMean(highTable, all, n);
  const rng = new Rng(seed);
  const idx = new Int32Array(n);
  const lowReps = new Float64Array(B);
  const highReps = new Float64Array(B);
  const ratioReps = new Float64Array(B);
  const diffReps = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    drawIndices(rng, n, idx);
    const lo = groupMean(lowTable, idx, n);
    const hi = groupMean(highTable, idx, n);
    lowReps[b] = lo;
    highReps[b] = hi;
    ratioReps[b] = lo / hi;
    diffReps[b] = lo - hi;
  }

  // Jackknife over unit ids (BCa only): id i left out of every language at once.
  const nJack = method === 'bca' && n > 1 ? n : 0;
  const lowJ = new Float64Array(nJack);
  const highJ = new Float64Array(nJack);
  const ratioJ = new Float64Array(nJack);
  const diffJ = new Float64Array(nJack);
  const loo = new Int32Array(n);
  for (let leave = 0; leave < nJack; leave++) {
    for (let i = 0, k = 0; i < n; i++) if (i !== leave) loo[k++] = i;
    lowJ[leave] = groupMean(lowTable, loo, n - 1);
    highJ[leave] = groupMean(highTable, loo, n - 1);
    ratioJ[leave] = lowJ[leave] / highJ[leave];
    diffJ[leave] = lowJ[leave] - highJ[leave];
  }
  const expandUnits = expand ? n : undefined;
  const interval = (est: number, reps: Float64Array, jack: Float64Array): Interval =>
    method === 'percentile'
      ? percentileInterval(est, reps, level, expandUnits)
      : bcaInterval(est, reps, jack, level, expandUnits);

  const lowMean = interval(lowEst, lowReps, lowJ);
  const highMean = interval(highEst, highReps, highJ);
  const diff = interval(lowEst - highEst, diffReps, diffJ);
  let reason: string | undefined;
  if (!(highEst > 0))
    reason = `the high-resource mean degradation is ${fmt(highEst)} (≤ 0): there is no loss to compare against`;
  else if (highMean.lo <= 0 && highMean.hi >= 0)
    reason = `the high-resource mean's ${Math.round(level * 100)} % interval [${fmt(highMean.lo)}, ${fmt(highMean.hi)}] contains 0`;
  const unstable = reason !== undefined;
  return {
    lowMean,
    highMean,
    ratio: unstable ? null : interval(lowEst / highEst, ratioReps, ratioJ),
    diff,
    unstable,
    reason,
    unitIds,
  };
}

/** Unit ids in natural order: numeric ids by value ("2" before "10"), then the rest by code point. */
function compareIds(a: string, b: string): number {
  const na = /^\d+$/.test(a) ? Number(a) : NaN;
  const nb = /^\d+$/.test(b) ? Number(b) : NaN;
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  if (!Number.isNaN(na)) return -1;
  if (!Number.isNaN(nb)) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(3) : String(x);
}
