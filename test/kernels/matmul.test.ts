// matmul (both weight layouts, cache-blocked, register-tiled) against matmulNaive.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matmul, matmulNaive, type Layout } from '../../src/kernels/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { assertClose } from '../helpers/compare.ts';
import { extremes, randn } from './util.ts';

const LAYOUTS: Layout[] = ['in_out', 'out_in'];

function check(
  T: number,
  inDim: number,
  outDim: number,
  layout: Layout,
  withBias: boolean,
  gen: (rng: Rng, n: number) => Float32Array,
  tol: number,
) {
  const rng = new Rng(T * 1000 + inDim * 10 + outDim);
  const x = gen(rng, T * inDim);
  const w = gen(rng, inDim * outDim);
  const bias = withBias ? gen(rng, outDim) : null;
  const fast = new Float32Array(T * outDim).fill(NaN); // every output must be written
  const slow = new Float32Array(T * outDim);
  matmul(fast, x, w, bias, T, inDim, outDim, layout);
  matmulNaive(slow, x, w, bias, T, inDim, outDim, layout);
  assertClose(fast, slow, { abs: tol, label: `matmul ${layout} ${T}×${inDim}×${outDim} bias=${withBias}` });
}

test('matmul equals the naive loop for both layouts and ragged sizes across tile and block edges', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 7, 9],
    [3, 5, 2],
    [4, 4, 4],
    [5, 13, 11],
    [67, 70, 130], // crosses the 64-row and 128-column blocks, with short tiles at the end
    [130, 33, 67],
  ];
  for (const layout of LAYOUTS) {
    for (const [T, i, o] of shapes) {
      check(T, i, o, layout, true, (r, n) => randn(r, n), 1e-4);
      check(T, i, o, layout, false, (r, n) => randn(r, n), 1e-4);
    }
  }
});

test('matmul with ±300 inputs stays within float32 rounding of the naive loop', () => {
  // products ~9e4, sums ~1e6: 2 ≈ a few float32 ulps
  for (const layout of LAYOUTS) check(9, 37, 21, layout, true, extremes, 2);
});

test('the two layouts agree when the weight is transposed', () => {
  const rng = new Rng(7);
  const [T, I, O] = [6, 10, 14];
  const x = randn(rng, T * I);
  const wIO = randn(rng, I * O);
  const wOI = new Float32Array(O * I);
  for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) wOI[o * I + i] = wIO[i * O + o];
  const a = new Float32Array(T * O);
  const b = new Float32Array(T * O);
  matmul(a, x, wIO, null, T, I, O, 'in_out');
  matmul(b, x, wOI, null, T, I, O, 'out_in');
  assertClose(a, b, { abs: 1e-5, label: 'in_out vs out_in' });
});

test('NaN and Inf in one input row spread only to that row', () => {
  for (const layout of LAYOUTS) {
    const rng = new Rng(3);
    const [T, I, O] = [5, 8, 6];
    const x = randn(rng, T * I);
    const w = randn(rng, I * O);
    x[2 * I + 3] = NaN;
    x[4 * I + 1] = Infinity;
    const out = new Float32Array(T * O);
    matmul(out, x, w, null, T, I, O, layout);
    for (let t = 0; t < T; t++) {
      for (let o = 0; o < O; o++) {
        const v = out[t * O + o];
        if (t === 2) assert.ok(Number.isNaN(v), `row 2 col ${o} should be NaN`);
        else if (t === 4) assert.ok(!Number.isFinite(v), `row 4 col ${o} should be infinite`);
        else assert.ok(Number.isFinite(v));
      }
    }
  }
});

test('matmul refuses sizes that disagree with its arrays', () => {
  assert.throws(
    () => matmul(new Float32Array(4), new Float32Array(4), new Float32Array(5), null, 2, 2, 2, 'in_out'),
    /sizes disagree/,
  );
});
