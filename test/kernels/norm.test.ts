// LayerNorm and RMSNorm against their two-pass naive twins.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { layerNorm, layerNormNaive, rmsNorm, rmsNormNaive } from '../../src/kernels/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { assertClose } from '../helpers/compare.ts';
import { extremes, randn } from './util.ts';

function both(x: Float32Array, T: number, C: number, seed: number) {
  const rng = new Rng(seed);
  const g = randn(rng, C, 0.3).map((v) => v + 1);
  const b = randn(rng, C, 0.1);
  const out = new Float32Array(T * C);
  const ref = new Float32Array(T * C);
  layerNorm(out, x, g, b, T, C, 1e-5);
  layerNormNaive(ref, x, g, b, T, C, 1e-5);
  assertClose(out, ref, { abs: 1e-5, label: `layerNorm ${T}×${C}` });
  layerNorm(out, x, g, null, T, C, 1e-5);
  layerNormNaive(ref, x, g, null, T, C, 1e-5);
  assertClose(out, ref, { abs: 1e-5, label: `layerNorm no bias ${T}×${C}` });
  rmsNorm(out, x, g, T, C, 1e-6, 0);
  rmsNormNaive(ref, x, g, T, C, 1e-6, 0);
  assertClose(out, ref, { abs: 1e-5, label: `rmsNorm ${T}×${C}` });
  // Gemma: the stored weight is an offset, gain 1 + w
  const offset = g.map((v) => v - 1);
  rmsNorm(out, x, offset, T, C, 1e-6, 1);
  rmsNormNaive(ref, x, offset, T, C, 1e-6, 1);
  assertClose(out, ref, { abs: 1e-5, label: `rmsNorm gain 1 + w ${T}×${C}` });
}

test('norms equal the naive twins on random, ±300 and offset rows', () => {
  const rng = new Rng(1);
  for (const [T, C] of [
    [1, 1],
    [1, 7],
    [5, 64],
    [3, 96],
  ]) {
    both(randn(rng, T * C), T, C, T + C);
    both(extremes(rng, T * C), T, C, T * C);
    both(
      randn(rng, T * C).map((v) => 1e4 + v),
      T,
      C,
      3,
    ); // large mean, small spread
  }
});

test('LayerNorm of one value gives the bias; of a constant row, too', () => {
  const out = new Float32Array(4);
  layerNorm(out, Float32Array.from([5]), Float32Array.from([2]), Float32Array.from([0.25]), 1, 1, 1e-5);
  assert.equal(out[0], 0.25);
  layerNorm(
    out,
    Float32Array.from([3, 3, 3, 3]),
    new Float32Array(4).fill(1),
    new Float32Array(4).fill(-1),
    1,
    4,
    1e-5,
  );
  assert.deepEqual(Array.from(out), [-1, -1, -1, -1]);
});

test('a NaN in a row makes that row NaN and leaves the others alone', () => {
  const x = Float32Array.from([1, NaN, 3, 1, 2, 3]);
  const g = new Float32Array(3).fill(1);
  const out = new Float32Array(6);
  layerNorm(out, x, g, null, 2, 3, 1e-5);
  assert.ok(Array.from(out.subarray(0, 3)).every(Number.isNaN));
  assert.ok(Array.from(out.subarray(3)).every(Number.isFinite));
  rmsNorm(out, x, g, 2, 3, 1e-6, 0);
  assert.ok(Array.from(out.subarray(0, 3)).every(Number.isNaN));
  assert.ok(Array.from(out.subarray(3)).every(Number.isFinite));
});

test('RMSNorm with gain offset 1 and a zero stored weight is RMSNorm with unit gain', () => {
  const rng = new Rng(4);
  const x = randn(rng, 2 * 8);
  const a = new Float32Array(16);
  const b = new Float32Array(16);
  rmsNorm(a, x, new Float32Array(8), 2, 8, 1e-6, 1);
  rmsNorm(b, x, new Float32Array(8).fill(1), 2, 8, 1e-6, 0);
  assert.deepEqual(a, b);
});
