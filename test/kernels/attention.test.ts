// Causal attention (with GQA and ALiBi) against the full-matrix naive twin.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alibiSlopes, causalAttention, causalAttentionNaive } from '../../src/kernels/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { assertClose } from '../helpers/compare.ts';
import { extremes, randn } from './util.ts';

function run(
  T: number,
  NH: number,
  NKV: number,
  HS: number,
  alibi: boolean,
  gen: (r: Rng, n: number) => Float32Array,
  tol: number,
  window = Infinity,
) {
  const rng = new Rng(T * 100 + NH * 10 + NKV);
  const q = gen(rng, T * NH * HS);
  const k = gen(rng, T * NKV * HS);
  const v = gen(rng, T * NKV * HS);
  let slopes: Float32Array | null = null;
  if (alibi) {
    slopes = new Float32Array(NH);
    alibiSlopes(slopes, NH);
  }
  const scale = 1 / Math.sqrt(HS);
  const a = new Float32Array(T * NH * HS).fill(NaN);
  const b = new Float32Array(T * NH * HS);
  causalAttention(a, q, k, v, new Float64Array(T), T, NH, NKV, HS, scale, slopes, window);
  causalAttentionNaive(b, q, k, v, T, NH, NKV, HS, scale, slopes, window);
  assertClose(a, b, {
    abs: tol,
    label: `attention T=${T} NH=${NH} NKV=${NKV} HS=${HS} alibi=${alibi} window=${window}`,
  });
  return { a, v };
}

test('causal attention equals the naive twin: MHA, GQA, ALiBi with 6 heads, length 1', () => {
  for (const [T, NH, NKV, HS] of [
    [1, 1, 1, 1],
    [1, 4, 2, 8],
    [13, 4, 4, 16],
    [13, 6, 2, 8],
    [33, 6, 3, 5],
    [20, 8, 1, 4],
  ]) {
    run(T, NH, NKV, HS, false, randn, 1e-5);
    run(T, NH, NKV, HS, true, randn, 1e-5);
  }
});

test('±300 queries and keys: no overflow, still equal to the naive twin', () => {
  run(9, 6, 2, 4, true, extremes, 1e-3);
});

test('the first position returns its own value vector', () => {
  const { a, v } = run(5, 4, 2, 3, true, randn, 1e-5);
  // position 0 attends only to key 0: head h gets v of kv head floor(h / 2)
  for (let h = 0; h < 4; h++) for (let d = 0; d < 3; d++) assert.equal(a[h * 3 + d], v[Math.floor(h / 2) * 3 + d]);
});

test('a NaN in one key reaches every later query of the heads that read it, and no earlier one', () => {
  const rng = new Rng(9);
  const [T, NH, NKV, HS] = [4, 2, 1, 2];
  const q = randn(rng, T * NH * HS);
  const k = randn(rng, T * NKV * HS);
  const v = randn(rng, T * NKV * HS);
  k[2 * HS] = NaN; // key of position 2
  const out = new Float32Array(T * NH * HS);
  causalAttention(out, q, k, v, new Float64Array(T), T, NH, NKV, HS, 1, null, Infinity);
  for (let t = 0; t < T; t++)
    for (let i = 0; i < NH * HS; i++) assert.equal(Number.isNaN(out[t * NH * HS + i]), t >= 2, `t=${t}`);
});

test('sliding window: equal to the naive twin; query t reads keys t − W..t (W + 1 keys); a window ≥ T is plain causal', () => {
  for (const [T, NH, NKV, HS, W] of [
    [13, 4, 2, 8, 3],
    [33, 4, 2, 16, 16],
    [20, 8, 1, 4, 0],
    [5, 2, 2, 3, 1],
  ])
    run(T, NH, NKV, HS, false, randn, 1e-5, W);
  const plain = run(9, 4, 2, 4, false, randn, 1e-5).a;
  assert.deepEqual(run(9, 4, 2, 4, false, randn, 1e-5, 8).a, plain);
  // Positions 0..W see every earlier key, so they equal plain causal attention exactly.
  const W = 3;
  const windowed = run(9, 4, 2, 4, false, randn, 1e-5, W).a;
  assert.deepEqual(windowed.subarray(0, (W + 1) * 16), plain.subarray(0, (W + 1) * 16));
  assert.notDeepEqual(windowed.subarray((W + 1) * 16, (W + 2) * 16), plain.subarray((W + 1) * 16, (W + 2) * 16));
  // With the window 0 each query sees only its own key: it returns its own value vector.
  const rng = new Rng(3);
  const [T, H, D] = [4, 1, 2];
  const q = randn(rng, T * H * D);
  const k = randn(rng, T * H * D);
  const v = randn(rng, T * H * D);
  const out = new Float32Array(T * H * D);
  causalAttention(out, q, k, v, new Float64Array(T), T, H, H, D, 1, null, 0);
  assert.deepEqual(out, v);
});
