// Rotary embedding and ALiBi slopes against their naive twins.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alibiSlopes, alibiSlopesNaive, applyRotary, applyRotaryNaive, rotaryTables } from '../../src/kernels/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { assertClose } from '../helpers/compare.ts';
import { extremes, randn } from './util.ts';

function rotaryCase(x: Float32Array, T: number, NH: number, HS: number, R: number, base: number, tol: number) {
  const fast = x.slice();
  const slow = x.slice();
  const cos = new Float32Array(T * (R / 2));
  const sin = new Float32Array(T * (R / 2));
  rotaryTables(cos, sin, T, R, base);
  applyRotary(fast, cos, sin, T, NH, HS, R);
  applyRotaryNaive(slow, T, NH, HS, R, base);
  assertClose(fast, slow, { abs: tol, label: `rotary T=${T} NH=${NH} HS=${HS} R=${R}` });
  // dims past R are untouched
  for (let t = 0; t < T; t++)
    for (let h = 0; h < NH; h++)
      for (let d = R; d < HS; d++) assert.equal(fast[(t * NH + h) * HS + d], x[(t * NH + h) * HS + d]);
}

test('rotary equals the rotate-half formula, full and partial, over 128 positions', () => {
  const rng = new Rng(5);
  // angles are float32 as in transformers: at position 127 they differ from float64 by ~1e-5 rad
  rotaryCase(randn(rng, 128 * 4 * 16), 128, 4, 16, 16, 10000, 1e-4); // llama: whole head
  rotaryCase(randn(rng, 128 * 4 * 16), 128, 4, 16, 4, 10000, 1e-4); // pythia-a: 4 of 16
  rotaryCase(randn(rng, 33 * 4 * 24), 33, 4, 24, 6, 10000, 1e-5); // pythia-b: 6 of 24
  rotaryCase(randn(rng, 9 * 3 * 8), 9, 3, 8, 8, 500000, 1e-5); // another rope_theta
  rotaryCase(extremes(rng, 7 * 2 * 8), 7, 2, 8, 8, 10000, 1e-3); // ±300: float32 ulp ~3e-5
});

test('rotary at position 0 is the identity (length 1)', () => {
  const x = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const cos = new Float32Array(2);
  const sin = new Float32Array(2);
  rotaryTables(cos, sin, 1, 4, 10000);
  applyRotary(x, cos, sin, 1, 1, 6, 4);
  assert.deepEqual(Array.from(x), [1, 2, 3, 4, 5, 6]);
});

test('rotary preserves the norm of each rotated pair', () => {
  const rng = new Rng(6);
  const x = randn(rng, 50 * 8);
  const y = x.slice();
  const cos = new Float32Array(50 * 4);
  const sin = new Float32Array(50 * 4);
  rotaryTables(cos, sin, 50, 8, 10000);
  applyRotary(y, cos, sin, 50, 1, 8, 8);
  for (let t = 0; t < 50; t++) {
    for (let m = 0; m < 4; m++) {
      const b = t * 8;
      assertClose(Math.hypot(y[b + m], y[b + m + 4]), Math.hypot(x[b + m], x[b + m + 4]), {
        abs: 1e-5,
        label: 'pair norm',
      });
    }
  }
});

test("ALiBi slopes equal the paper's construction for 1..64 heads, powers of two or not", () => {
  for (let n = 1; n <= 64; n++) {
    const a = new Float32Array(n);
    const b = new Float32Array(n);
    alibiSlopes(a, n);
    alibiSlopesNaive(b, n);
    for (let h = 0; h < n; h++) assert.ok(Math.abs(a[h] - b[h]) <= 1e-6 * b[h], `n=${n} head ${h}: ${a[h]} vs ${b[h]}`);
  }
});

test('ALiBi slopes: known values for 8 and for 6 heads', () => {
  const s8 = new Float32Array(8);
  alibiSlopes(s8, 8);
  assert.deepEqual(
    Array.from(s8),
    [1, 2, 3, 4, 5, 6, 7, 8].map((k) => 2 ** -k),
  );
  const s6 = new Float32Array(6); // cp = 4: 2^-2, 2^-4, 2^-6, 2^-8, then 2^-1, 2^-3
  alibiSlopes(s6, 6);
  assert.deepEqual(Array.from(s6), [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3]);
  const s1 = new Float32Array(1);
  alibiSlopes(s1, 1);
  assert.deepEqual(Array.from(s1), [2 ** -8]);
});
