import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataError } from '../../src/errors.ts';
import { scoreTokens, top1Accuracy } from '../../src/eval/score.ts';
import { Rng } from '../../src/util/rng.ts';
import { bigramEngine, bigramTable, positionEngine } from './fake-engine.ts';

const V = 17;
const table = bigramTable(V, 1);
const rng = new Rng(7);
const ids = Array.from({ length: 53 }, () => rng.int(V));

test('windowed scoring of a context-free model equals scoring the whole text at once', async () => {
  const whole = await scoreTokens(bigramEngine(table, V), ids, { context: 1000 });
  assert.equal(whole.windows, 1);
  for (const [K, S] of [
    [2, 1],
    [5, 2],
    [8, 4],
    [8, 7],
    [16, 3],
  ]) {
    const e = bigramEngine(table, V);
    const w = await scoreTokens(e, ids, { context: K, stride: S });
    assert.equal(w.count, ids.length - 1);
    assert.deepEqual(w.nll, whole.nll, `K=${K} S=${S}`);
    assert.deepEqual(w.top1, whole.top1);
    assert.ok(Math.abs(w.nllSum - whole.nllSum) < 1e-9);
    for (const c of e.calls) assert.ok(c.length <= K);
  }
  let expect = 0;
  for (let i = 1; i < ids.length; i++) expect += -table[ids[i - 1] * V + ids[i]];
  assert.ok(Math.abs(whole.nllSum - expect) < 1e-9);
});

test('each token is scored by the window where it is not in the overlap (its local position)', async () => {
  const e = positionEngine();
  const s = await scoreTokens(e, new Array(13).fill(0), { context: 8, stride: 4 });
  // window 0 [0,8) scores targets 1..7 at local positions 0..6 → nll 1..7;
  // window 1 [4,12) scores targets 8..11 at local positions 3..6 → 4..7; window 2 [8,13) target 12 at 3 → 4.
  assert.deepEqual(Array.from(s.nll), [1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7, 4]);
  assert.equal(e.calls.length, 3);
});

test('log-probability rows are streamed per window for the scored targets only', async () => {
  const got: number[] = [];
  const s = await scoreTokens(bigramEngine(table, V), ids, {
    context: 6,
    stride: 2,
    onLogProbs(first, rows, count, vocab) {
      assert.equal(vocab, V);
      assert.equal(rows.length, count * V);
      for (let r = 0; r < count; r++) {
        const target = first + r;
        got.push(target);
        assert.equal(-rows[r * V + ids[target]], -table[ids[target - 1] * V + ids[target]]);
      }
    },
  });
  assert.deepEqual(
    got,
    Array.from({ length: ids.length - 1 }, (_, i) => i + 1),
  );
  assert.ok(top1Accuracy(s) >= 0 && top1Accuracy(s) <= 1);
});

test('a text shorter than 2 tokens is a DataError', async () => {
  await assert.rejects(
    scoreTokens(positionEngine(), [3], { context: 8 }),
    (e: unknown) => e instanceof DataError && /at least 2 tokens/.test(e.message),
  );
  await assert.rejects(scoreTokens(positionEngine(), [], { context: 8 }), DataError);
});
