// The one comparison helper of the golden and kernel tests: element-wise |actual − expected| ≤ abs,
// failing with the largest difference, its index and both values. NaN equals only NaN; an infinity
// equals only the same-sign infinity.
import assert from 'node:assert/strict';

export interface CloseOptions {
  /** Largest allowed absolute difference. */
  abs: number;
  /** Names the quantity in the failure message. */
  label: string;
}

type Numbers = ArrayLike<number>;

/** Max |a − e| over finite pairs (Infinity on a NaN/Inf mismatch) and where it is. */
export function maxAbsDiff(actual: Numbers, expected: Numbers): { diff: number; index: number } {
  let diff = 0;
  let index = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    let d: number;
    if (Number.isNaN(e) || Number.isNaN(a)) d = Number.isNaN(e) && Number.isNaN(a) ? 0 : Infinity;
    else if (!Number.isFinite(e) || !Number.isFinite(a)) d = a === e ? 0 : Infinity;
    else d = Math.abs(a - e);
    if (index < 0 || d > diff) {
      diff = d;
      index = i;
    }
  }
  return { diff, index };
}

export function assertClose(actual: Numbers | number, expected: Numbers | number, opts: CloseOptions): void {
  const a = typeof actual === 'number' ? [actual] : actual;
  const e = typeof expected === 'number' ? [expected] : expected;
  assert.equal(a.length, e.length, `${opts.label}: length ${a.length}, expected ${e.length}`);
  const { diff, index } = maxAbsDiff(a, e);
  if (!(diff <= opts.abs)) {
    assert.fail(
      `${opts.label}: max |diff| ${diff} > ${opts.abs} at index ${index} (actual ${a[index]}, expected ${e[index]})`,
    );
  }
}
