// The golden comparison helper itself: NaN only equals NaN, Inf only same-sign Inf, and failures name the index.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, maxAbsDiff } from '../helpers/compare.ts';

test('assertClose passes within tolerance and reports the worst index otherwise', () => {
  assertClose([1, 2, 3], [1, 2.00001, 3], { abs: 1e-4, label: 'x' });
  assert.throws(
    () => assertClose([1, 2, 3.5], [1, 2.1, 3], { abs: 1e-4, label: 'x' }),
    /x: max \|diff\| 0\.5 > 0\.0001 at index 2/,
  );
  assert.throws(() => assertClose([1, 2], [1, 2, 3], { abs: 1, label: 'y' }), /y: length 2, expected 3/);
});

test('NaN equals only NaN; Inf only the same-sign Inf', () => {
  assertClose([NaN, Infinity, -Infinity], [NaN, Infinity, -Infinity], { abs: 0, label: 'special' });
  assert.equal(maxAbsDiff([NaN], [0]).diff, Infinity);
  assert.equal(maxAbsDiff([0], [NaN]).diff, Infinity);
  assert.equal(maxAbsDiff([Infinity], [-Infinity]).diff, Infinity);
  assert.equal(maxAbsDiff([1e30], [Infinity]).diff, Infinity);
  assert.throws(() => assertClose([NaN], [1], { abs: 1e9, label: 'n' }), /at index 0/);
});
