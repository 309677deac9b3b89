import assert from 'node:assert/strict';
import { test } from 'node:test';
import { disparityRatio, type LanguageUnits } from '../../src/eval/bootstrap.ts';
import {
  averageRanks,
  languageLevelDisparity,
  permutationTest,
  spearmanInterval,
  spearmanRho,
} from '../../src/eval/language-level.ts';
import { DataError } from '../../src/errors.ts';
import { Rng } from '../../src/util/rng.ts';

/**
 * Brute force: every subset of size |a| of the pooled values by bit mask, written independently of the code under test.
 */
function bruteForceP(a: number[], b: number[], twoSided: boolean): { p: number; count: number } {
  const pooled = [...a, ...b];
  const N = pooled.length;
  const k = a.length;
  const diff = (inA: number[], inB: number[]) =>
    inA.reduce((s, x) => s + x, 0) / inA.length - inB.reduce((s, x) => s + x, 0) / inB.length;
  const obs = diff(a, b);
  let hits = 0;
  let count = 0;
  for (let mask = 0; mask < 1 << N; mask++) {
    const inA: number[] = [];
    const inB: number[] = [];
    for (let i = 0; i < N; i++) (mask & (1 << i) ? inA : inB).push(pooled[i]);
    if (inA.length !== k) continue;
    count++;
    const d = diff(inA, inB);
    if (twoSided ? Math.abs(d) >= Math.abs(obs) - 1e-12 : d >= obs - 1e-12) hits++;
  }
  return { p: hits / count, count };
}

test('permutation test: exact p equals brute-force enumeration (3 vs 3, 4 vs 3, one- and two-sided)', () => {
  const cases: [number[], number[]][] = [
    [
      [0.31, 0.45, 0.28],
      [0.12, 0.2, 0.15],
    ],
    [
      [0.31, 0.12, 0.28, 0.5],
      [0.12, 0.2, 0.35],
    ], // a tie across groups
    [
      [1, 2, 3],
      [4, 5, 6],
    ], // low smaller than high: p = 1 one-sided
    [
      [0.2, 0.2, 0.3, 0.1],
      [0.25, 0.15, 0.2],
    ],
  ];
  for (const [a, b] of cases) {
    for (const alternative of ['greater', 'two-sided'] as const) {
      const want = bruteForceP(a, b, alternative === 'two-sided');
      const got = permutationTest(a, b, { seed: 1, alternative });
      assert.equal(got.exact, true);
      assert.equal(got.count, want.count);
      assert.ok(Math.abs(got.p - want.p) < 1e-12, `${alternative} ${a}|${b}: ${got.p} vs ${want.p}`);
    }
  }
  // The most extreme split of 3 vs 3 has p = 1/20 one-sided, 2/20 two-sided.
  assert.equal(permutationTest([4, 5, 6], [1, 2, 3], { seed: 1 }).p, 1 / 20);
  assert.equal(permutationTest([4, 5, 6], [1, 2, 3], { seed: 1, alternative: 'two-sided' }).p, 2 / 20);
  assert.equal(permutationTest([1, 2, 3], [4, 5, 6], { seed: 1 }).p, 1);
});

test('permutation test: Monte Carlo p is within sampling error of the exact one, and seeded', () => {
  const rng = new Rng(11);
  const a = Array.from({ length: 6 }, () => 0.3 + 0.1 * rng.normal());
  const b = Array.from({ length: 6 }, () => 0.2 + 0.1 * rng.normal());
  for (const alternative of ['greater', 'two-sided'] as const) {
    const exact = permutationTest(a, b, { seed: 1, alternative, permutations: 924 }); // C(12, 6) = 924
    assert.equal(exact.exact, true);
    assert.equal(exact.count, 924);
    assert.ok(Math.abs(exact.p - bruteForceP(a, b, alternative === 'two-sided').p) < 1e-12);
    const mc = permutationTest(a, b, { seed: 3, alternative, permutations: 900 });
    assert.equal(mc.exact, false);
    assert.equal(mc.count, 900);
    const se = Math.sqrt((exact.p * (1 - exact.p)) / 900);
    assert.ok(Math.abs(mc.p - exact.p) < 4 * se + 2 / 901, `${alternative}: MC ${mc.p} vs exact ${exact.p}`);
    assert.deepEqual(permutationTest(a, b, { seed: 3, alternative, permutations: 900 }), mc);
  }
  // Never 0: (1 + hits)/(1 + B).
  const far = permutationTest([10, 11, 12, 13, 14, 15, 16], [0, 1, 2, 3, 4, 5, 6], { seed: 1, permutations: 100 });
  assert.equal(far.exact, false);
  assert.equal(far.p, 1 / 101);
});

test('permutation test: bad input is a DataError', () => {
  assert.throws(() => permutationTest([], [1], { seed: 1 }), DataError);
  assert.throws(() => permutationTest([1], [NaN], { seed: 1 }), DataError);
  assert.throws(() => permutationTest([1], [2], { seed: 1, permutations: 0 }), DataError);
  assert.throws(() => permutationTest([1], [2], { seed: 1, alternative: 'less' as 'greater' }), DataError);
});

interface Unit {
  dNll: number;
  bytes: number;
}
const dBpb = (us: readonly Unit[]) =>
  us.reduce((s, u) => s + u.dNll, 0) / (us.reduce((s, u) => s + u.bytes, 0) * Math.LN2);
function language(lang: string, level: number, seed: number, articles = 13): LanguageUnits<Unit> {
  const rng = new Rng(seed);
  const units = new Map<string, Unit>();
  for (let a = 1; a <= articles; a++) {
    const bytes = 200 + rng.int(300);
    units.set(String(a), { dNll: (level + 0.2 * level * rng.normal()) * bytes * Math.LN2, bytes });
  }
  return { lang, units };
}
const full = (l: LanguageUnits<Unit>) => dBpb([...l.units.values()]);

test('language-level disparity: estimates from each language on all its units, seeded two-stage intervals, a permutation p', () => {
  const low = [0.25, 0.3, 0.4, 0.22, 0.35].map((v, i) => language(`low${i}`, v, i + 1));
  const high = [0.1, 0.12, 0.08, 0.15].map((v, i) => language(`high${i}`, v, i + 10));
  const o = { low, high, degradation: dBpb, seed: 4, resamples: 600 };
  const r = languageLevelDisparity(o);
  const lowMean = low.map(full).reduce((a, b) => a + b) / low.length;
  const highMean = high.map(full).reduce((a, b) => a + b) / high.length;
  assert.ok(Math.abs(r.lowMean.estimate - lowMean) < 1e-12);
  assert.ok(Math.abs(r.highMean.estimate - highMean) < 1e-12);
  assert.ok(Math.abs(r.diff.estimate - (lowMean - highMean)) < 1e-12);
  assert.equal(r.unstable, false);
  assert.ok(r.ratio);
  assert.ok(Math.abs(r.ratio.estimate - lowMean / highMean) < 1e-12);
  for (const iv of [r.ratio, r.diff, r.lowMean, r.highMean]) {
    assert.equal(iv.method, 'percentile');
    assert.equal(iv.resamplesUsed, 600);
    assert.ok(iv.lo < iv.estimate && iv.estimate < iv.hi, `${iv.lo} ${iv.estimate} ${iv.hi}`);
  }
  // 9 languages: C(9, 5) = 126 relabellings, enumerated; every low language loses more than every high one.
  assert.equal(r.permExact, true);
  assert.equal(r.permCount, 126);
  assert.equal(r.permP, 1 / 126);
  assert.deepEqual(languageLevelDisparity(o), r);
  assert.notDeepEqual(languageLevelDisparity({ ...o, seed: 5 }), r);
  // Languages as the unit: the spread between languages widens the interval beyond the paired
  // unit-level one, which holds these languages fixed.
  const paired = disparityRatio(o).ratio!;
  assert.ok(
    r.ratio.hi - r.ratio.lo > 1.5 * (paired.hi - paired.lo),
    `language-level [${r.ratio.lo}, ${r.ratio.hi}], paired [${paired.lo}, ${paired.hi}]`,
  );
  // Too many relabellings for the budget: Monte Carlo.
  const mc = languageLevelDisparity({ ...o, permutations: 50 });
  assert.equal(mc.permExact, false);
  assert.equal(mc.permCount, 50);
});

test('language-level disparity: unstable when the high-resource mean is ≤ 0 or its interval contains 0; DataErrors', () => {
  const low = [language('a', 0.3, 1), language('b', 0.2, 2)];
  const r = languageLevelDisparity({
    low,
    high: [language('x', 0, 3), language('y', 0, 4)],
    degradation: dBpb,
    seed: 1,
    resamples: 200,
  });
  assert.equal(r.unstable, true);
  assert.equal(r.ratio, null);
  assert.match(r.reason!, /≤ 0/);
  assert.ok(Number.isFinite(r.diff.lo) && Number.isFinite(r.diff.hi));
  const s = languageLevelDisparity({
    low,
    high: [language('x', 0.1, 3), language('y', -0.08, 4)],
    degradation: dBpb,
    seed: 1,
    resamples: 300,
  });
  assert.equal(s.unstable, true);
  assert.match(s.reason!, /contains 0/);
  assert.throws(() => languageLevelDisparity({ low: [], high: low, degradation: dBpb, seed: 1 }), DataError);
  assert.throws(
    () => languageLevelDisparity({ low, high: [{ lang: 'z', units: new Map() }], degradation: dBpb, seed: 1 }),
    /z has no units/,
  );
  assert.throws(() => languageLevelDisparity({ low, high: low, degradation: () => NaN, seed: 1 }), DataError);
  assert.throws(() => languageLevelDisparity({ low, high: low, degradation: dBpb, seed: 1, resamples: 0 }), DataError);
});

test('spearman: average ranks for ties; the interval contains rho, is seeded, and is [1, 1] for monotone data', () => {
  assert.deepEqual([...averageRanks([3, 1, 3, 2])], [3.5, 1, 3.5, 2]);
  assert.equal(spearmanRho([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  assert.equal(spearmanRho([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  assert.ok(Number.isNaN(spearmanRho([1, 1, 1], [1, 2, 3])));
  const rng = new Rng(8);
  const x = Array.from({ length: 20 }, () => rng.normal());
  const y = x.map((v) => v + 0.8 * rng.normal());
  const iv = spearmanInterval(x, y, { seed: 2, resamples: 800 });
  assert.equal(iv.estimate, spearmanRho(x, y));
  assert.ok(iv.lo <= iv.estimate && iv.estimate <= iv.hi, `${iv.lo} ${iv.estimate} ${iv.hi}`);
  assert.ok(iv.lo > 0 && iv.hi <= 1);
  assert.deepEqual(spearmanInterval(x, y, { seed: 2, resamples: 800 }), iv);
  assert.notDeepEqual(spearmanInterval(x, y, { seed: 3, resamples: 800 }), iv);
  const mono = spearmanInterval([1, 2, 3, 4, 5, 6], [1, 4, 9, 16, 25, 36], { seed: 1, resamples: 300 });
  assert.equal(mono.estimate, 1);
  assert.equal(mono.lo, 1);
  assert.equal(mono.hi, 1);
  assert.throws(() => spearmanInterval([1, 2], [1, 2], { seed: 1 }), DataError);
  assert.throws(() => spearmanInterval([1, 2, 3], [1, 2], { seed: 1 }), DataError);
});
