import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bcaInterval,
  bootstrap,
  disparityRatio,
  jackknifeAcceleration,
  percentileInterval,
  type LanguageUnits,
} from '../../src/eval/bootstrap.ts';
import { DataError } from '../../src/errors.ts';
import { mean } from '../../src/eval/metrics.ts';
import { Rng } from '../../src/util/rng.ts';

const meanOf = (xs: readonly number[]) => mean(xs);

test('same seed → same interval; another seed → another interval', () => {
  const rng = new Rng(1);
  const units = Array.from({ length: 30 }, () => rng.normal());
  const a = bootstrap(units, meanOf, { seed: 42, resamples: 500 });
  const b = bootstrap(units, meanOf, { seed: 42, resamples: 500 });
  const c = bootstrap(units, meanOf, { seed: 43, resamples: 500 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.equal(a.estimate, mean(units));
  assert.ok(a.lo < a.estimate && a.estimate < a.hi);
  assert.equal(a.level, 0.95);
  assert.equal(a.resamplesUsed, 500);
});

test('coverage sanity: the 95 % interval of a mean covers the true mean about 95 % of the time', () => {
  const rng = new Rng(2024);
  let covered = 0;
  const trials = 200;
  for (let t = 0; t < trials; t++) {
    const units = Array.from({ length: 40 }, () => 3 + 2 * rng.normal());
    const iv = bootstrap(units, meanOf, { seed: t, resamples: 400 });
    if (iv.lo <= 3 && 3 <= iv.hi) covered++;
  }
  // The percentile interval of a mean of 40 normals is a little narrow (~93 %); allow sampling noise.
  assert.ok(covered / trials > 0.86 && covered / trials <= 1, `coverage ${covered / trials}`);
});

test('bad options and no units are DataErrors', () => {
  assert.throws(() => bootstrap([], meanOf, { seed: 1 }), DataError);
  assert.throws(() => bootstrap([1], meanOf, { seed: 1, resamples: 0 }), DataError);
  assert.throws(() => bootstrap([1], meanOf, { seed: 1, level: 1.5 }), DataError);
});

/** A language whose degradation per article is `level` plus noise; units = per-article ΔNLL and bytes. */
interface Unit {
  dNll: number;
  bytes: number;
}
function language(lang: string, level: number, seed: number, articles = 30): LanguageUnits<Unit> {
  const rng = new Rng(seed);
  const units = new Map<string, Unit>();
  for (let a = 1; a <= articles; a++) {
    const bytes = 200 + rng.int(300);
    units.set(String(a), { dNll: (level + 0.2 * level * rng.normal()) * bytes, bytes });
  }
  return { lang, units };
}
const dBpb = (us: readonly Unit[]) =>
  us.reduce((s, u) => s + u.dNll, 0) / (us.reduce((s, u) => s + u.bytes, 0) * Math.LN2);

test('disparity ratio: low / high mean degradation with a paired, seeded interval', () => {
  const low = [language('swh', 0.3, 1), language('yor', 0.4, 2)];
  const high = [language('eng', 0.1, 3), language('fra', 0.1, 4)];
  const r = disparityRatio({ low, high, degradation: dBpb, seed: 7, resamples: 300 });
  assert.equal(r.unstable, false);
  assert.ok(r.ratio);
  const expect = mean(low.map((l) => dBpb([...l.units.values()]))) / mean(high.map((l) => dBpb([...l.units.values()])));
  assert.ok(Math.abs(r.ratio.estimate - expect) < 1e-12);
  assert.ok(r.ratio.estimate > 2.5 && r.ratio.estimate < 4.5, String(r.ratio.estimate));
  assert.ok(r.ratio.lo < r.ratio.estimate && r.ratio.estimate < r.ratio.hi);
  assert.deepEqual(r.unitIds.slice(0, 3), ['1', '2', '3']);
  assert.deepEqual(disparityRatio({ low, high, degradation: dBpb, seed: 7, resamples: 300 }), r);
});

test('disparity ratio is unstable when the high-resource mean is ≤ 0 or its interval contains 0', () => {
  const low = [language('swh', 0.3, 1)];
  const zeroish = [language('eng', 0.0, 3), language('fra', 0.0, 4)];
  // level 0 → dNll 0 everywhere: high mean exactly 0
  const r = disparityRatio({ low, high: zeroish, degradation: dBpb, seed: 1, resamples: 100 });
  assert.equal(r.unstable, true);
  assert.equal(r.ratio, null);
  assert.match(r.reason!, /≤ 0/);
  // high degradation that straddles 0: noise much larger than the mean
  const straddle: LanguageUnits<Unit> = {
    lang: 'eng',
    units: new Map(
      Array.from({ length: 20 }, (_, i) => [String(i + 1), { dNll: (i % 2 ? 1 : -0.9) * 100, bytes: 100 }] as const),
    ),
  };
  const s = disparityRatio({ low, high: [straddle], degradation: dBpb, seed: 1, resamples: 300 });
  assert.ok(s.highMean.estimate > 0);
  assert.equal(s.unstable, true);
  assert.match(s.reason!, /interval .* contains 0/);
});

test('disparity ratio needs both groups', () => {
  assert.throws(
    () => disparityRatio({ low: [], high: [language('eng', 0.1, 1)], degradation: dBpb, seed: 1 }),
    DataError,
  );
});

test('BCa is the default: seeded, with its bias correction and acceleration recorded', () => {
  const rng = new Rng(3);
  const units = Array.from({ length: 13 }, () => rng.normal());
  const a = bootstrap(units, meanOf, { seed: 5, resamples: 800 });
  assert.equal(a.method, 'bca');
  assert.equal(a.fallback, undefined);
  assert.equal(a.expanded, true);
  assert.ok(Number.isFinite(a.z0) && Number.isFinite(a.acceleration), 'z0 and a recorded');
  assert.deepEqual(bootstrap(units, meanOf, { seed: 5, resamples: 800 }), a);
  assert.notDeepEqual(bootstrap(units, meanOf, { seed: 6, resamples: 800 }), a);
  const p = bootstrap(units, meanOf, { seed: 5, resamples: 800, method: 'percentile' });
  assert.equal(p.method, 'percentile');
  assert.equal(p.z0, undefined);
  // The expansion widens: the textbook interval on the same draws is inside the expanded one.
  const t = bootstrap(units, meanOf, { seed: 5, resamples: 800, expand: false });
  assert.equal(t.expanded, undefined);
  assert.ok(a.lo < t.lo && t.hi < a.hi, `${a.lo} ${t.lo} ${t.hi} ${a.hi}`);
});

test('BCa on a right-skewed statistic (mean of 15 exponentials) moves the interval right of the percentile one', () => {
  const rng = new Rng(5);
  const units = Array.from({ length: 15 }, () => -Math.log(1 - rng.next()));
  const opts = { seed: 1, resamples: 4000, expand: false } as const;
  const bca = bootstrap(units, meanOf, opts);
  const pct = bootstrap(units, meanOf, { ...opts, method: 'percentile' });
  assert.equal(bca.method, 'bca');
  // A right-skewed sampling distribution has positive acceleration; BCa shifts both bounds up
  // (the upper more), as E&T §14.3 predict for the mean of an exponential.
  assert.ok(bca.acceleration! > 0, String(bca.acceleration));
  assert.ok(bca.lo > pct.lo && bca.hi > pct.hi, `bca [${bca.lo}, ${bca.hi}] pct [${pct.lo}, ${pct.hi}]`);
  // For a mean the jackknife acceleration is the sample's third moment over 6 (Σ(x − x̄)²)^{3/2}.
  const m = mean(units);
  let s2 = 0;
  let s3 = 0;
  for (const x of units) {
    s2 += (x - m) ** 2;
    s3 += (x - m) ** 3;
  }
  assert.ok(
    Math.abs(bca.acceleration! - s3 / (6 * s2 ** 1.5)) < 1e-12,
    `${bca.acceleration} vs ${s3 / (6 * s2 ** 1.5)}`,
  );
});

test('BCa falls back to the percentile interval, saying why, where it is not defined', () => {
  // All resamples equal.
  const same = bootstrap([2, 2, 2, 2, 2], meanOf, { seed: 1, resamples: 200 });
  assert.equal(same.method, 'percentile');
  assert.match(same.fallback!, /all resamples are equal/);
  assert.equal(same.lo, 2);
  assert.equal(same.hi, 2);
  // Every resample below the estimate: distinct units drawn are fewer than 10 (almost surely).
  const distinct = (s: readonly number[]) => new Set(s).size;
  const below = bootstrap([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], distinct, { seed: 1, resamples: 300 });
  assert.equal(below.method, 'percentile');
  assert.match(below.fallback!, /below the estimate/);
  assert.ok(Number.isFinite(below.lo) && Number.isFinite(below.hi));
  // NaN resamples are dropped as before; none at all gives NaN bounds, as the percentile one does.
  const iv = bcaInterval(1, [NaN, 0.5, 1.5, 0.9, 1.2, NaN], [0.9, 1, 1.1], 0.9);
  assert.equal(iv.resamplesUsed, 4);
  assert.ok(Number.isFinite(iv.lo) && Number.isFinite(iv.hi));
  const none = bcaInterval(1, [NaN, NaN], [1, 2], 0.95);
  assert.equal(none.method, 'percentile');
  assert.match(none.fallback!, /no resample/);
  assert.deepEqual(
    [none.lo, none.hi],
    [percentileInterval(1, [NaN, NaN], 0.95).lo, percentileInterval(1, [NaN, NaN], 0.95).hi],
  );
  // The acceleration: 0 for a jackknife with no spread or too few numbers; NaN values left out.
  assert.equal(jackknifeAcceleration([3, 3, 3]), 0);
  assert.equal(jackknifeAcceleration([NaN, 3]), 0);
  assert.equal(jackknifeAcceleration([1, 2, NaN, 3]), 0); // symmetric
  assert.ok(jackknifeAcceleration([0, 0, 0, 1]) < 0); // one jackknife value far above: left-skewed statistic
});

test('disparity ratio: BCa by default for every interval, the difference low − high on the same draws', () => {
  const low = [language('swh', 0.3, 1, 13), language('yor', 0.4, 2, 13)];
  const high = [language('eng', 0.1, 3, 13), language('fra', 0.12, 4, 13)];
  const r = disparityRatio({ low, high, degradation: dBpb, seed: 9, resamples: 500 });
  for (const iv of [r.lowMean, r.highMean, r.ratio!, r.diff]) assert.equal(iv.method, 'bca');
  assert.ok(Math.abs(r.diff.estimate - (r.lowMean.estimate - r.highMean.estimate)) < 1e-15);
  assert.ok(r.diff.lo < r.diff.estimate && r.diff.estimate < r.diff.hi);
  assert.ok(r.diff.lo > 0, 'the low-resource languages lose clearly more here');
  const p = disparityRatio({
    low,
    high,
    degradation: dBpb,
    seed: 9,
    resamples: 500,
    method: 'percentile',
    expand: false,
  });
  for (const iv of [p.lowMean, p.highMean, p.ratio!, p.diff]) assert.equal(iv.method, 'percentile');
  // Same draws (same seed): the textbook percentile bounds are quantiles of the same resamples.
  assert.equal(p.diff.estimate, r.diff.estimate);
  assert.equal(p.diff.resamplesUsed, r.diff.resamplesUsed);
  assert.throws(
    () => disparityRatio({ low, high, degradation: dBpb, seed: 1, method: 'studentized' as 'bca' }),
    DataError,
  );
});
