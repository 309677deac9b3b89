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
  assert.ok(
    disjoint(s.training, s.calibration) && disjoint(s.training, s.evaluation) && disjoint(s.calibration, s.evaluation),
  );
  assert.deepEqual([...s.training, ...s.calibration, ...s.evaluation].sort(), [...UDHR_UNIT_IDS].sort());
});

test('same seed, same split; input order does not matter; sets keep input order', () => {
  const a = splitUnits(UDHR_UNIT_IDS, { seed: 7 });
  const b = splitUnits([...UDHR_UNIT_IDS].reverse(), { seed: 7 });
  assert.deepEqual(a, splitUnits(UDHR_UNIT_IDS, { seed: 7 }));
  assert.deepEqual([...a.evaluation].sort(), [...b.evaluation].sort());
  const order = (xs: string[]) => xs.map((x) => UDHR_UNIT_IDS.indexOf(x));
  assert.deepEqual(
    order(a.evaluation),
    [...order(a.evaluation)].sort((x, y) => x - y),
  );
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

test('a subset of the UDHR units (languages lacking some articles) keeps every trainer unit out of evaluation', () => {
  const full = splitUnits(UDHR_UNIT_IDS, { seed: 0 });
  // Drop five units the trainer did not see: splitting 26 ids by count alone would hold out only 10.
  const dropped = [...full.calibration, ...full.evaluation].slice(0, 5);
  const subset = UDHR_UNIT_IDS.filter((id) => !dropped.includes(id));
  for (let seed = 0; seed < 20; seed++) {
    const s = splitUnits(subset, { seed });
    assert.deepEqual(s.training, full.training);
    assert.ok(disjoint(full.training, [...s.calibration, ...s.evaluation]), `seed ${seed}`);
    assert.equal(s.training.length + s.calibration.length + s.evaluation.length, 26);
  }
  // Dropping trainer units leaves the others in training; nothing moves the other way.
  const lessOne = splitUnits(
    UDHR_UNIT_IDS.filter((id) => id !== full.training[0]),
    { seed: 0 },
  );
  assert.deepEqual(lessOne.training, full.training.slice(1));
  // An explicit universe does the same for other corpora; ids outside it are refused.
  const u = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
  const whole = splitUnits(u, { seed: 0, trainingShare: 0.5, calibrationShare: 0.1 });
  const part = splitUnits(
    u.filter((x) => !whole.evaluation.includes(x) || x === whole.evaluation[0]),
    { seed: 0, trainingShare: 0.5, calibrationShare: 0.1, universe: u },
  );
  assert.deepEqual(part.training, whole.training);
  assert.throws(() => splitUnits(['a', 'zz'], { seed: 0, universe: u }), /zz is not in the universe/);
});

test('shares are validated', () => {
  assert.throws(() => splitUnits(UDHR_UNIT_IDS, { seed: 0, trainingShare: 0.7, calibrationShare: 0.3 }), ConfigError);
  assert.throws(() => splitUnits(UDHR_UNIT_IDS, { seed: 0, trainingShare: -0.1 }), ConfigError);
  assert.throws(() => splitUnits(['a', 'a'], { seed: 0 }), ConfigError);
  assert.throws(
    () => splitUnits(['a', 'b'], { seed: 0, trainingShare: 0.5, calibrationShare: 0.4 }),
    /no evaluation unit/,
  );
  const none = splitUnits(UDHR_UNIT_IDS, { seed: 3, trainingShare: 0, calibrationShare: 0 });
  assert.equal(none.evaluation.length, 31);
});
