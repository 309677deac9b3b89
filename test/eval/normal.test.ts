import assert from 'node:assert/strict';
import { test } from 'node:test';
import { erfc, normalCdf, normalQuantile, studentTCdf, studentTQuantile } from '../../src/eval/normal.ts';

/** |got − want| ≤ rel·|want| (or ≤ rel when want is 0). */
function close(got: number, want: number, rel: number, what: string): void {
  assert.ok(Math.abs(got - want) <= rel * Math.max(Math.abs(want), want === 0 ? 1 : 0), `${what}: ${got} vs ${want}`);
}

test('normal distribution function against known values', () => {
  // The figures given in tables, to their digits…
  assert.ok(Math.abs(normalCdf(1.96) - 0.9750021) < 5e-8);
  // …and reference values to full precision (R / SciPy).
  close(normalCdf(1.96), 0.9750021048517795, 1e-14, 'Φ(1.96)');
  close(normalCdf(-1), 0.15865525393145707, 1e-14, 'Φ(−1)');
  close(normalCdf(-6.361340902404056), 1e-10, 1e-12, 'Φ at the 1e-10 quantile');
  close(normalCdf(-8), 6.22096057427174e-16, 1e-12, 'Φ(−8)');
  close(normalCdf(-20), 2.7536241186061556e-89, 1e-11, 'Φ(−20)');
  assert.equal(normalCdf(0), 0.5);
  assert.equal(normalCdf(-Infinity), 0);
  assert.equal(normalCdf(Infinity), 1);
  assert.ok(Number.isNaN(normalCdf(NaN)));
  close(erfc(1), 0.15729920705028516, 1e-14, 'erfc(1)');
  close(erfc(3), 2.2090496998585445e-5, 1e-14, 'erfc(3)');
  for (const x of [0.1, 0.9, 1.7, 2.5, 4.2]) close(normalCdf(x) + normalCdf(-x), 1, 1e-15, `symmetry at ${x}`);
});

test('normal quantile against known values, tails included, and as the inverse of Φ', () => {
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 5e-7);
  close(normalQuantile(0.975), 1.959963984540054, 1e-14, 'Φ⁻¹(0.975)');
  close(normalQuantile(1e-10), -6.361340902404056, 1e-14, 'Φ⁻¹(1e-10)');
  close(normalQuantile(1 - 1e-10), 6.361340889697422, 1e-14, 'Φ⁻¹(1 − 1e-10)'); // 1 − 1e-10 is not exactly representable
  close(normalQuantile(1e-300), -37.0470962993612, 1e-14, 'Φ⁻¹(1e-300)');
  assert.equal(normalQuantile(0.5), 0);
  assert.equal(normalQuantile(0), -Infinity);
  assert.equal(normalQuantile(1), Infinity);
  assert.ok(
    Number.isNaN(normalQuantile(1.5)) && Number.isNaN(normalQuantile(-0.1)) && Number.isNaN(normalQuantile(NaN)),
  );
  // Round trip across the central region and both of Acklam's tail regions.
  for (const p of [1e-8, 0.001, 0.02, 0.02425, 0.03, 0.2, 0.5, 0.77, 0.97, 0.99, 0.9999])
    close(normalCdf(normalQuantile(p)), p, 1e-13, `Φ(Φ⁻¹(${p}))`);
});

test('Student t distribution function and quantile against known values', () => {
  close(studentTQuantile(0.975, 12), 2.1788128296672284, 1e-12, 't(0.975, 12)');
  close(studentTQuantile(0.975, 1), 12.706204736174694, 1e-12, 't(0.975, 1)');
  close(studentTQuantile(0.975, 2), 4.302652729749462, 1e-12, 't(0.975, 2)');
  close(studentTQuantile(0.975, 3), 3.1824463052837078, 1e-12, 't(0.975, 3)');
  close(studentTQuantile(0.025, 30), -2.042272456301238, 1e-12, 't(0.025, 30)');
  close(studentTQuantile(0.995, 7), 3.4994832973504924, 1e-12, 't(0.995, 7)');
  close(studentTCdf(2.5, 5), 0.9727549503288119, 1e-13, 'T₅(2.5)');
  close(studentTCdf(-1.3, 4), 0.13172579823561206, 1e-13, 'T₄(−1.3)');
  close(studentTCdf(0.7, 1), 0.6944001122142147, 1e-13, 'T₁(0.7)');
  // Many degrees of freedom: close to the normal.
  assert.ok(Math.abs(studentTQuantile(0.975, 100000) - 1.959963984540054) < 1e-4);
  assert.ok(Number.isNaN(studentTQuantile(0.5, 0)) && Number.isNaN(studentTQuantile(0.5, 2.5)));
});
