// Calibration sources of phase E (src/study/calibration-source.ts): which languages each source
// (high, low, all, a list, target) selects, that its text comes from the replicate's calibration units
// only (never an evaluation unit), and equal budgets — every source gives exactly the same number of
// calibration tokens, a language with less text lowering the budget of all of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  budgetShares,
  budgetWindows,
  calibrationBudget,
  calibrationSets,
  equalBudget,
  setWindows,
} from '../../src/study/calibration-source.ts';
import { unitsById } from '../../src/data/corpus.ts';
import { studyTexts } from '../../src/study/texts.ts';

const GROUPS = { high: ['eng', 'fra', 'deu'], low: ['yor', 'hau', 'swh'] };
/** Bytes as tokens: every token maps back to the text it came from. */
const BYTES = {
  tokenizer: { encode: (s: string) => [...Buffer.from(s, 'utf8')] },
  bos: null,
  window: { context: 128, stride: 64 },
};
const sum = (xs: readonly { length: number }[]) => xs.reduce((a, x) => a + x.length, 0);

test('calibration sources select high, low, all, a list, or one set per language for target', () => {
  const t = studyTexts({ corpus: { name: 'udhr' }, groups: GROUPS, seed: 0 });
  const sets = (s: Parameters<typeof calibrationSets>[1]) =>
    calibrationSets(t.langs, s).map((x) => ({ label: x.label, langs: [...x.langs], target: x.target }));
  assert.deepEqual(sets('high'), [{ label: 'high', langs: GROUPS.high, target: undefined }]);
  assert.deepEqual(sets('low'), [{ label: 'low', langs: GROUPS.low, target: undefined }]);
  assert.deepEqual(sets('all'), [{ label: 'all', langs: [...GROUPS.high, ...GROUPS.low], target: undefined }]);
  assert.deepEqual(sets(['yor', 'eng']), [{ label: 'yor,eng', langs: ['yor', 'eng'], target: undefined }]);
  assert.deepEqual(
    sets('target'),
    t.langs.all.map((l) => ({ label: l, langs: [l], target: l })),
  );
  assert.throws(() => calibrationSets(t.langs, ['eng', 'zzz']), /zzz are not study languages/);
  assert.throws(() => calibrationSets(t.langs, ['eng', 'eng']), /eng are listed twice/);
});

test('budget shares: a common quota, the remainder one token each to the first languages with text left', () => {
  assert.deepEqual(budgetShares([10, 3, 10], 17), [7, 3, 7]);
  assert.deepEqual(budgetShares([10, 3, 10], 18), [8, 3, 7]);
  assert.deepEqual(budgetShares([10, 3, 10], 19), [8, 3, 8]);
  assert.deepEqual(budgetShares([5, 5, 5], 7), [3, 2, 2]);
  assert.deepEqual(budgetShares([4, 2], 100), [4, 2], 'never more than the text');
  for (const b of [0, 1, 9, 20, 23])
    assert.equal(
      budgetShares([10, 3, 10], b).reduce((a, n) => a + n, 0),
      Math.min(b, 23),
    );
  const w = budgetWindows(
    [Int32Array.from({ length: 10 }, (_, i) => i), Int32Array.from({ length: 10 }, (_, i) => 100 + i)],
    4,
    15,
  );
  assert.deepEqual(
    w.map((x) => [...x]),
    [
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [100, 101, 102, 103],
      [104, 105, 106],
    ],
  );
});

test('a language with less text lowers the budget of every source; nothing is repeated or padded', () => {
  const langs = { all: ['eng', 'fra', 'yor', 'hau'] };
  const available = new Map([
    ['eng', 900],
    ['fra', 800],
    ['yor', 150],
    ['hau', 400],
  ]);
  assert.equal(equalBudget(available, langs, 4096), 150);
  assert.equal(equalBudget(available, langs, 100), 100, 'the cap when every language has more');
  assert.equal(equalBudget(new Map([['eng', 900]]), langs, 4096), 0, 'a language with no text gives no budget');
});

test('every source gives exactly the equal budget, from the calibration units only, in windows of the context', () => {
  for (const seed of [0, 1]) {
    const t = studyTexts({ corpus: { name: 'udhr' }, groups: GROUPS, seed });
    const evaluation = new Set(t.evaluation);
    assert.ok(
      t.calibration.length > 0 && t.calibration.every((id) => !evaluation.has(id)),
      'calibration and evaluation units never overlap',
    );
    for (const cap of [1_000_000, 1000, 999]) {
      const b = calibrationBudget(t, BYTES, cap);
      const shortest = Math.min(...[...b.available.values()]);
      assert.equal(b.budget, Math.min(cap, shortest));
      assert.deepEqual(
        b.limitedBy,
        cap > shortest ? [...b.available].filter(([, n]) => n === shortest).map(([l]) => l) : [],
      );
      const sources = ['high', 'low', 'all', 'target', ['swh', 'fra']] as const;
      for (const source of sources) {
        for (const set of calibrationSets(t.langs, source as Parameters<typeof calibrationSets>[1])) {
          const { windows, tokens } = setWindows(b, set, 128);
          assert.equal(tokens, b.budget, `${set.label}: ${tokens} tokens, budget ${b.budget}`);
          assert.equal(sum(windows), tokens);
          assert.ok(windows.every((w) => w.length > 0 && w.length <= 128));
          // The windows are, language by language, the start of that language's calibration text.
          const text = Buffer.from(Int32Array.from(windows.flatMap((w) => [...w])));
          const own = set.langs.map((l) =>
            Buffer.from(
              unitsById(t.corpus, l, t.calibration)
                .map((u) => u.text)
                .join('\n'),
              'utf8',
            ),
          );
          const shares = budgetShares(
            own.map((x) => x.length),
            b.budget,
          );
          assert.deepEqual(
            text,
            Buffer.concat(own.map((x, k) => x.subarray(0, shares[k]))),
            `${set.label}: calibration text only`,
          );
          for (const l of set.langs) {
            const evalText = unitsById(t.corpus, l, t.evaluation).map((u) => u.text);
            const share = own[set.langs.indexOf(l)].subarray(0, shares[set.langs.indexOf(l)]).toString('utf8');
            assert.ok(
              evalText.every((e) => !share.includes(e)),
              `${set.label}: no evaluation unit of ${l} in the calibration text`,
            );
          }
        }
      }
    }
  }
});
