import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootstrap, disparityRatio, type LanguageUnits } from '../../src/eval/bootstrap.ts';
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
const dBpb = (us: readonly Unit[]) => us.reduce((s, u) => s + u.dNll, 0) / (us.reduce((s, u) => s + u.bytes, 0) * Math.LN2);

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
    units: new Map(Array.from({ length: 20 }, (_, i) => [String(i + 1), { dNll: (i % 2 ? 1 : -0.9) * 100, bytes: 100 }] as const)),
  };
  const s = disparityRatio({ low, high: [straddle], degradation: dBpb, seed: 1, resamples: 300 });
  assert.ok(s.highMean.estimate > 0);
  assert.equal(s.unstable, true);
  assert.match(s.reason!, /interval .* contains 0/);
});

test('disparity ratio needs both groups', () => {
  assert.throws(() => disparityRatio({ low: [], high: [language('eng', 0.1, 1)], degradation: dBpb, seed: 1 }), DataError);
});
