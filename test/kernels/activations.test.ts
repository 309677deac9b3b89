// erf and the activations against naive twins and known values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as k from '../../src/kernels/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { assertClose } from '../helpers/compare.ts';
import { extremes, randn } from './util.ts';

test('erf is within 1e-7 of known values and of the Simpson-rule integral', () => {
  // reference values (as printed by C's erf, Python math.erf)
  const known: [number, number][] = [
    [0, 0],
    [0.1, 0.1124629160182849],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [1.5, 0.9661051464753108],
    [2, 0.9953222650189527],
    [3, 0.9999779095030014],
    [3.5, 0.9999992569016276],
    [4, 0.9999999845827421],
    [6, 1],
  ];
  for (const [x, v] of known) {
    assertClose(k.erf(x), v, { abs: 1e-12, label: `erf(${x})` });
    assertClose(k.erf(-x), -v, { abs: 1e-12, label: `erf(${-x})` });
  }
  let worst = 0;
  for (let x = -6; x <= 6; x += 0.01) worst = Math.max(worst, Math.abs(k.erf(x) - k.erfNaive(x)));
  assert.ok(worst < 1e-7, `max |erf − integral| = ${worst}`);
  assert.equal(k.erf(Infinity), 1);
  assert.equal(k.erf(-Infinity), -1);
  assert.ok(Number.isNaN(k.erf(NaN)));
});

const PAIRS: [
  string,
  (o: Float32Array, x: Float32Array, n: number) => void,
  (o: Float32Array, x: Float32Array, n: number) => void,
][] = [
  ['geluTanh', k.geluTanh, k.geluTanhNaive],
  ['geluErf', k.geluErf, k.geluErfNaive],
  ['relu', k.relu, k.reluNaive],
  ['silu', k.silu, k.siluNaive],
  ['quickGelu', k.quickGelu, k.quickGeluNaive],
];

test('each activation equals its naive twin on random and ±300 inputs, length 1 included', () => {
  const rng = new Rng(4);
  for (const [name, fast, naive] of PAIRS) {
    for (const x of [randn(rng, 257, 3), extremes(rng, 64), Float32Array.from([0.7])]) {
      const a = new Float32Array(x.length);
      const b = new Float32Array(x.length);
      fast(a, x, x.length);
      naive(b, x, x.length);
      assertClose(a, b, { abs: 1e-6, label: name });
    }
  }
});

test('activations at ±300: the identity above, zero below; NaN stays NaN; in place works', () => {
  for (const [name, fast] of PAIRS) {
    const x = Float32Array.from([300, -300, NaN]);
    fast(x, x, 3);
    assert.equal(x[0], 300, name);
    assert.equal(Math.abs(x[1]), 0, name);
    assert.ok(Number.isNaN(x[2]), `${name}(NaN)`);
  }
});

test('the two GELU forms differ (the golden notes: the wrong one moves logits by ~1e-3)', () => {
  const x = Float32Array.from([1.5]);
  const a = new Float32Array(1);
  const b = new Float32Array(1);
  k.geluTanh(a, x, 1);
  k.geluErf(b, x, 1);
  assertClose(a[0], 1.3995715769802328, { abs: 1e-6, label: 'geluTanh(1.5)' });
  assertClose(b[0], 1.399789198096713, { abs: 1e-6, label: 'geluErf(1.5)' });
  assert.ok(Math.abs(a[0] - b[0]) > 1e-4);
});

test('activate dispatches every activation name', () => {
  const x = Float32Array.from([-1, 0.5]);
  for (const act of ['gelu_tanh', 'gelu_erf', 'relu', 'silu', 'quick_gelu'] as const) {
    const out = new Float32Array(2);
    k.activate(act, out, x, 2);
    assert.ok(out.every(Number.isFinite), act);
  }
});
