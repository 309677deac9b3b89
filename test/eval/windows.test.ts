import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import {
  defaultStride,
  describeConvention,
  resolveWindowOptions,
  scoredCount,
  slidingWindows,
} from '../../src/eval/windows.ts';

test('exhaustively: every id after the first is scored exactly once, id 0 never, windows fit the context', () => {
  for (let K = 2; K <= 12; K++) {
    for (let S = 1; S < K; S++) {
      for (let n = 0; n <= 40; n++) {
        const ws = slidingWindows(n, { context: K, stride: S });
        const hits = new Int32Array(n);
        let prevEnd = 1;
        for (const [j, w] of ws.entries()) {
          const label = `K=${K} S=${S} n=${n} window ${j}`;
          assert.ok(w.end - w.start <= K && w.end - w.start >= 2, label);
          assert.equal(w.start, j * S, label);
          assert.ok(w.start < w.scoreFrom && w.scoreFrom <= w.end, label);
          assert.equal(w.scoreFrom, prevEnd, `${label}: scores the first id not scored before`);
          if (j > 0) assert.ok(w.scoreFrom - 1 - w.start >= K - S - 1, `${label}: at least K−S ids of context`);
          for (let i = w.scoreFrom; i < w.end; i++) hits[i]++;
          prevEnd = w.end;
        }
        if (n >= 2) assert.equal(ws.at(-1)!.end, n, `K=${K} S=${S} n=${n}: reaches the end`);
        else assert.equal(ws.length, 0);
        if (n > 0) assert.equal(hits[0], 0, 'first id never scored');
        for (let i = 1; i < n; i++) assert.equal(hits[i], 1, `K=${K} S=${S} n=${n}: id ${i} scored ${hits[i]} times`);
        assert.equal(
          hits.reduce((a, b) => a + b, 0),
          scoredCount(n),
        );
      }
    }
  }
});

test('a text that fits the context is one window; the default stride is half the context', () => {
  assert.deepEqual(slidingWindows(5, { context: 8 }), [{ start: 0, end: 5, scoreFrom: 1 }]);
  assert.equal(defaultStride(8), 4);
  assert.equal(defaultStride(7), 3);
  assert.deepEqual(slidingWindows(12, { context: 8 }), [
    { start: 0, end: 8, scoreFrom: 1 },
    { start: 4, end: 12, scoreFrom: 8 },
  ]);
  assert.deepEqual(slidingWindows(13, { context: 8 }), [
    { start: 0, end: 8, scoreFrom: 1 },
    { start: 4, end: 12, scoreFrom: 8 },
    { start: 8, end: 13, scoreFrom: 12 },
  ]);
});

test('bad context and stride are ConfigErrors that say what to pass', () => {
  assert.throws(
    () => resolveWindowOptions({ context: 1 }),
    (e: unknown) => e instanceof ConfigError && /at least 2 tokens/.test(e.message),
  );
  assert.throws(
    () => resolveWindowOptions({ context: 8, stride: 8 }),
    (e: unknown) => e instanceof ConfigError && /overlap.*--stride between 1 and 7/.test(e.message),
  );
  assert.throws(
    () => resolveWindowOptions({ context: 8, stride: 0 }),
    (e: unknown) => e instanceof ConfigError && /positive whole number/.test(e.message),
  );
  assert.throws(() => resolveWindowOptions({ context: 8, stride: 2.5 }), ConfigError);
  assert.equal(resolveWindowOptions({ context: 2 }).stride, 1);
});

test('the convention line names the context, stride and the unscored first token', () => {
  const s = describeConvention({ context: 1024, stride: 512 });
  assert.match(s, /1024 tokens advancing by 512/);
  assert.match(s, /first token of each text is never scored/);
  assert.equal(s.split('\n').length, 1);
});
