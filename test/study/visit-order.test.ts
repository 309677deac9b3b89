// Replicates visit their units in opposite directions (odd ones backwards) so that two running at
// once meet in the middle of the units they share; the results come back in the texts' order and are
// the same whichever the direction. A helper lane goes the other way from its replicate; several treated
// engines are compared unit by unit (C-001's variants), with the results of one engine at a time.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Engine } from '../../src/engine/types.ts';
import { referenceEngine } from '../../src/engine/reference.ts';
import { ScoreCache } from '../../src/eval/score-cache.ts';
import { loadModel } from '../../src/model/load.ts';
import { compareUnits, compareUnitsEach, scoreUnits, visitOf, visitOrder } from '../../src/study/compare.ts';
import { registerEngine } from '../../src/study/score-cache.ts';
import type { UnitText } from '../../src/study/texts.ts';

const texts = new Map<string, UnitText[]>([
  [
    'eng',
    ['a', 'b', 'c'].map((id, i) => ({
      id,
      text: `text ${id}`,
      ids: Int32Array.from({ length: 20 + i }, (_, t) => (t * 7 + i) % 2000),
    })),
  ],
  [
    'swh',
    ['d', 'e'].map((id, i) => ({
      id,
      text: `maandishi ${id}`,
      ids: Int32Array.from({ length: 17 + i }, (_, t) => (t * 11 + i) % 2000),
    })),
  ],
  ['yor', []],
]);

test('visitOrder: forwards for even replicates, backwards for odd ones', () => {
  const fwd = visitOrder(texts, 0);
  assert.deepEqual(fwd, [
    ['eng', 0],
    ['eng', 1],
    ['eng', 2],
    ['swh', 0],
    ['swh', 1],
  ]);
  assert.deepEqual(visitOrder(texts, 1), [...fwd].reverse());
  assert.deepEqual(visitOrder(texts, 2), fwd);
  // a helper lane goes the other way from its replicate
  assert.deepEqual(visitOrder(texts, 0, 1), [...fwd].reverse());
  assert.deepEqual(visitOrder(texts, 1, 1), fwd);
  assert.deepEqual(visitOf({ replicate: 3, lane: 1 }), { replicate: 3, lane: 1 });
  assert.deepEqual(visitOf({}), { replicate: 0, lane: 0 });
});

test("scoreUnits: the same results in the texts' order whichever the direction; a replicate after another scores nothing", async () => {
  const model = loadModel('models/gpt2-mini');
  const seen: number[] = [];
  const base = referenceEngine(model);
  // records the second id of each window scored, to see the order of the work
  const engine: Engine = { ...base, score: (req) => (seen.push(req.ids[1]), base.score(req)) };
  const win = { context: 16, stride: 8 };
  const fwd = await scoreUnits(engine, texts, win, undefined, { replicate: 0 });
  const firstForward = seen[0];
  seen.length = 0;
  const progress: [number, number][] = [];
  const back = await scoreUnits(engine, texts, win, (d, n) => progress.push([d, n]), { replicate: 1 });
  assert.notEqual(seen[0], firstForward, 'the odd replicate starts from the other end');
  assert.deepEqual([...back.keys()], ['eng', 'swh', 'yor']);
  assert.deepEqual([...back.get('eng')!.keys()], ['a', 'b', 'c']);
  assert.deepEqual(back, fwd);
  assert.deepEqual(
    progress,
    [
      [1, 3],
      [2, 3],
      [3, 3],
    ],
    'every language counted once, the empty one first',
  );

  // through a score cache: the second direction reads every unit the first one wrote
  const cache = new ScoreCache(join(mkdtempSync(join(tmpdir(), 'lq-visit-')), 'scores'));
  registerEngine(engine, { cache, key: () => 'model-key', tokenizer: 'tok', bos: null });
  const a = await scoreUnits(engine, texts, win, undefined, { replicate: 0 });
  seen.length = 0;
  const b = await scoreUnits(engine, texts, win, undefined, { replicate: 1 });
  assert.equal(seen.length, 0, 'all hits');
  assert.deepEqual(b, a);
  assert.deepEqual(
    [...a.get('eng')!.values()].map((t) => t.nllNats),
    [...fwd.get('eng')!.values()].map((t) => t.nllNats),
  );
});

test('compareUnitsEach: every engine on a unit before the next unit, the results of compareUnits for each', async () => {
  const model = loadModel('models/gpt2-mini');
  const base = referenceEngine(model);
  const calls: string[] = [];
  // two "treated" engines (the model itself, scored with a different label): only the order matters here
  const named = (name: string): Engine => ({
    ...base,
    score: (req) => (calls.push(`${name}:${req.ids[1]}`), base.score(req)),
  });
  const t1 = named('t1');
  const t2 = named('t2');
  const win = { context: 16, stride: 8 };
  const o = { reference: base, texts, window: win, kl: false };
  const each = await compareUnitsEach({ ...o, treated: [t1, t2], replicate: 0, lane: 1 });
  // unit-major order: every window of a unit through t1, then through t2, then the next unit (lane 1: backwards)
  const units = visitOrder(texts, 0, 1).map(([lang, i]) => texts.get(lang)![i]);
  const firstIds = units[0].ids;
  const t1First = calls.filter((c) => c.startsWith('t1:'));
  const t2Start = calls.findIndex((c) => c.startsWith('t2:'));
  assert.equal(t1First[0], `t1:${firstIds[1]}`, 'lane 1 starts with the last unit');
  assert.ok(
    calls.slice(0, t2Start).every((c) => c.startsWith('t1:')),
    'the first unit is done by t1 before t2 starts',
  );
  assert.ok(
    calls.findIndex((c) => c === `t1:${units[1].ids[1]}`) > t2Start,
    'the second unit starts after both engines have done the first',
  );
  const one1 = await compareUnits({ ...o, treated: t1 });
  const one2 = await compareUnits({ ...o, treated: t2 });
  assert.deepEqual(each, [one1, one2]);
  assert.deepEqual([...each[0].keys()], ['eng', 'swh', 'yor']);
});
