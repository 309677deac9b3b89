// Deterministic, non-overlapping splits of aligned units.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitUnits, UDHR_UNIT_IDS } from '../../src/data/splits.ts';
import { ConfigError } from '../../src/errors.ts';

const disjoint = (a: string[], b: string[]) => a.every((x) => !b.includes(x));

test('three disjoint sets covering every unit, with the default sizes', () => {
  const s = splitUnits(UDHR_UNIT_IDS, { seed: 1 });
  assert.equal(s.training.length, 12);
  assert.equal(s.calibration.length, 6);
  assert.equal(s.evaluation.length, 13);
  assert.ok(disjoint(s.training, s.calibration) && disjoint(s.training, s.evaluation) && disjoint(s.calibration, s.evaluation));
  assert.deepEqual([...s.training, ...s.calibration, ...s.evaluation].sort(), [...UDHR_UNIT_IDS].sort());
});

test('same seed, same split; input order does not matter; sets keep input order', () => {
  const a = splitUnits(UDHR_UNIT_IDS, { seed: 7 });
  const b = splitUnits([...UDHR_UNIT_IDS].reverse(), { seed: 7 });
  assert.deepEqual(a, splitUnits(UDHR_UNIT_IDS, { seed: 7 }));
  assert.deepEqual([...a.evaluation].sort(), [...b.evaluation].sort());
  const order = (xs: string[]) => xs.map((x) => UDHR_UNIT_IDS.indexOf(x));
  assert.deepEqual(order(a.evaluation), [...order(a.evaluation)].sort((x, y) => x - y));
});

test('the training split is the same for every replicate seed and never meets any evaluation set', () => {
  const base = splitUnits(UDHR_UNIT_IDS, { seed: 0 }).training;
  const evaluations = new Set<string>();
  for (let seed = 0; seed < 50; seed++) {
    const s = splitUnits(UDHR_UNIT_IDS, { seed });
    assert.deepEqual(s.training, base);
    s.evaluation.forEach((x) => evaluations.add(x));
  }
  assert.ok(disjoint(base, [...evaluations]));
  assert.ok(evaluations.size > 13, 'replicates draw different evaluation subsets');
  assert.notDeepEqual(splitUnits(UDHR_UNIT_IDS, { seed: 0, trainingSeed: 1 }).training, base);
});

test('shares are validated', () => {
  assert.throws(() => splitUnits(UDHR_UNIT_IDS, { seed: 0, trainingShare: 0.7, calibrationShare: 0.3 }), ConfigError);
  assert.throws(() => splitUnits(UDHR_UNIT_IDS, { seed: 0, trainingShare: -0.1 }), ConfigError);
  assert.throws(() => splitUnits(['a', 'a'], { seed: 0 }), ConfigError);
  assert.throws(() => splitUnits(['a', 'b'], { seed: 0, trainingShare: 0.5, calibrationShare: 0.4 }), /no evaluation unit/);
  const none = splitUnits(UDHR_UNIT_IDS, { seed: 3, trainingShare: 0, calibrationShare: 0 });
  assert.equal(none.evaluation.length, 31);
});
