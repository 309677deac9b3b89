// softmax, log-softmax and log-sum-exp against the naive twins.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logSoftmax, logSoftmaxNaive, logSumExp, softmax, softmaxNaive } from '../../src/kernels/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { assertClose } from '../helpers/compare.ts';
import { extremes, randn } from './util.ts';

test('softmax and log-softmax equal the naive twins, ±300 included', () => {
  const rng = new Rng(2);
  for (const [T, N] of [
    [1, 1],
    [1, 5],
    [4, 33],
    [2, 1000],
  ]) {
    for (const x of [randn(rng, T * N, 3), extremes(rng, T * N)]) {
      const a = new Float32Array(T * N);
      const b = new Float32Array(T * N);
      softmax(a, x, T, N);
      softmaxNaive(b, x, T, N);
      assertClose(a, b, { abs: 1e-7, label: `softmax ${T}×${N}` });
      for (let t = 0; t < T; t++)
        assertClose(
          a.subarray(t * N, t * N + N).reduce((s, v) => s + v, 0),
          1,
          { abs: 1e-5, label: 'row sum' },
        );
      logSoftmax(a, x, T, N);
      logSoftmaxNaive(b, x, T, N);
      assertClose(a, b, { abs: 1e-4, label: `logSoftmax ${T}×${N}` }); // values down to −600: float32 ulp ~6e-5
    }
  }
});

test('length 1: probability 1, log-probability 0; in place works', () => {
  const x = Float32Array.from([-300]);
  softmax(x, x, 1, 1);
  assert.equal(x[0], 1);
  const y = Float32Array.from([300]);
  logSoftmax(y, y, 1, 1);
  assert.equal(y[0], 0);
});

test('a NaN in a row makes the row NaN; ±300 gives no overflow', () => {
  const out = new Float32Array(3);
  softmax(out, Float32Array.from([0, NaN, 1]), 1, 3);
  assert.ok(Array.from(out).every(Number.isNaN));
  softmax(out, Float32Array.from([300, -300, 300]), 1, 3);
  assertClose(out, [0.5, 0, 0.5], { abs: 0, label: 'extremes' });
  assert.equal(logSumExp(Float32Array.from([300, 300]), 0, 2), 300 + Math.log(2));
  assert.equal(logSumExp(Float32Array.from([-Infinity, -Infinity]), 0, 2), -Infinity);
});
