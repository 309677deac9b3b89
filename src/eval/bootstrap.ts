// Seeded percentile bootstrap over aligned text units (UDHR articles, FLORES sentences), and the
// disparity ratio of DESIGN.md §4 with a paired bootstrap across languages.
// Reference: Efron & Tibshirani, "An Introduction to the Bootstrap" (1993), ch. 13 (percentile
// interval); Koehn, "Statistical significance tests for machine translation evaluation" (2004) for
// resampling whole aligned units and pairing the systems/languages compared on the same draws.
//
// Percentile interval at level 1−α: the α/2 and 1−α/2 quantiles (type 7) of the statistic over B
// resamples; the estimate is the statistic on the original units. Draws use src/util/rng.ts, so the
// same seed gives the same interval on every machine. Resamples whose statistic is NaN (e.g. an
// empty denominator) are dropped; `resamplesUsed` says how many were kept.

import { DataError } from '../errors.ts';
import { Rng } from '../util/rng.ts';
import { mean, quantileSorted } from './metrics.ts';

export interface BootstrapOptions {
  /** PRNG seed (required: results must be reproducible). */
  readonly seed: number;
  /** Number of resamples B (default 1000). */
  readonly resamples?: number;
  /** Confidence level (default 0.95). */
  readonly level?: number;
}

export interface Interval {
  /** The statistic on the original units. */
  readonly estimate: number;
  /** Lower and upper percentile bounds. */
  readonly lo: number;
  readonly hi: number;
  readonly level: number;
  /** Resamples whose statistic was a number (NaN ones are dropped). */
  readonly resamplesUsed: number;
}

function checkOptions(o: BootstrapOptions): { seed: number; B: number; level: number } {
  const B = o.resamples ?? 1000;
  const level = o.level ?? 0.95;
  if (!Number.isInteger(B) || B < 1) throw new DataError(`bootstrap: resamples ${B} must be a positive whole number (e.g. 1000)`);
  if (!(level > 0 && level < 1)) throw new DataError(`bootstrap: level ${level} must be between 0 and 1 (e.g. 0.95)`);
  return { seed: o.seed, B, level };
}

/** Percentile interval from the resampled statistics and the original estimate. */
export function percentileInterval(estimate: number, replicates: ArrayLike<number>, level: number): Interval {
  const kept = Float64Array.from(Array.from(replicates).filter((v) => !Number.isNaN(v)));
  kept.sort();
  const a = (1 - level) / 2;
  return { estimate, lo: quantileSorted(kept, a), hi: quantileSorted(kept, 1 - a), level, resamplesUsed: kept.length };
}

/** Draws n indices in [0, n) with replacement. */
function drawIndices(rng: Rng, n: number, out: Int32Array): Int32Array {
  for (let i = 0; i < n; i++) out[i] = rng.int(n);
  return out;
}

/**
 * Percentile bootstrap of `statistic` over `units`: each resample draws units.length units with
 * replacement and recomputes the statistic on them.
 */
export function bootstrap<U>(units: readonly U[], statistic: (sample: readonly U[]) => number, opts: BootstrapOptions): Interval {
  const { seed, B, level } = checkOptions(opts);
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
  return percentileInterval(statistic(units), reps, level);
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
 * so that differences in content between resamples affect all languages alike.
 */
export function disparityRatio<U>(o: DisparityOptions<U>): DisparityResult {
  const { seed, B, level } = checkOptions(o);
  if (o.low.length === 0 || o.high.length === 0) {
    throw new DataError(`disparity ratio needs at least one low-resource and one high-resource language (got ${o.low.length} low, ${o.high.length} high); check the language groups`);
  }
  const idSet = new Set<string>();
  for (const l of [...o.low, ...o.high]) for (const id of l.units.keys()) idSet.add(id);
  const unitIds = [...idSet].sort(compareIds);
  const n = unitIds.length;
  if (n === 0) throw new DataError('disparity ratio: the languages have no units to resample');

  const groupMean = (group: readonly LanguageUnits<U>[], ids: ArrayLike<number>): number => {
    const values: number[] = [];
    for (const l of group) {
      const sample: U[] = [];
      for (let i = 0; i < ids.length; i++) {
        const u = l.units.get(unitIds[ids[i]]);
        if (u !== undefined) sample.push(u);
      }
      values.push(sample.length ? o.degradation(sample) : NaN);
    }
    return mean(values);
  };

  const all = Int32Array.from({ length: n }, (_, i) => i);
  const lowEst = groupMean(o.low, all);
  const highEst = groupMean(o.high, all);
  const rng = new Rng(seed);
  const idx = new Int32Array(n);
  const lowReps = new Float64Array(B);
  const highReps = new Float64Array(B);
  const ratioReps = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    drawIndices(rng, n, idx);
    lowReps[b] = groupMean(o.low, idx);
    highReps[b] = groupMean(o.high, idx);
    ratioReps[b] = lowReps[b] / highReps[b];
  }
  const lowMean = percentileInterval(lowEst, lowReps, level);
  const highMean = percentileInterval(highEst, highReps, level);
  let reason: string | undefined;
  if (!(highEst > 0)) reason = `the high-resource mean degradation is ${fmt(highEst)} (≤ 0): there is no loss to compare against`;
  else if (highMean.lo <= 0 && highMean.hi >= 0) reason = `the high-resource mean's ${Math.round(level * 100)} % interval [${fmt(highMean.lo)}, ${fmt(highMean.hi)}] contains 0`;
  const unstable = reason !== undefined;
  return {
    lowMean,
    highMean,
    ratio: unstable ? null : percentileInterval(lowEst / highEst, ratioReps, level),
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
