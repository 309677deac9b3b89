// The per-unit score cache (src/eval/score-cache.ts) and what it relies on: the engines' head alone
// on kept hidden states gives the numbers `score` gave, bit for bit; comparisons and baselines through
// the cache equal the uncached ones exactly and, a second time, run no model; a changed setting is a
// miss; a torn entry is ignored and rewritten.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ortEngine } from '../../src/engine/ort/engine.ts';
import { referenceEngine } from '../../src/engine/reference.ts';
import type { Engine, HeadRequest, ScoreRequest } from '../../src/engine/types.ts';
import { compareOnText, type CompareCache } from '../../src/eval/degradation.ts';
import { scoreTokens } from '../../src/eval/score.ts';
import { ScoreCache, scoreTextCached, unitKey } from '../../src/eval/score-cache.ts';
import { loadModel } from '../../src/model/load.ts';
import { withWeights } from '../../src/model/model.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';
import { Rng } from '../../src/util/rng.ts';
import { tempDir } from '../helpers/checkpoints.ts';
import { GOLDEN } from '../helpers/cli.ts';

const model = loadModel(`${GOLDEN}models/gpt2-a`); // vocab 1000, 128 positions
/** The same model with every block weight perturbed: a stand-in for a quantised copy. */
const treatedModel = (() => {
  const rng = new Rng(7);
  const repl = new Map<string, Tensor>();
  for (const [name, t] of model.weights) {
    if (!name.includes('.h.') || t.shape.length !== 2) continue;
    repl.set(name, { data: t.data.map((x) => x + 0.01 * rng.normal()), shape: t.shape });
  }
  return withWeights(model, repl);
})();
const rng = new Rng(3);
const ids = Int32Array.from({ length: 70 }, () => rng.int(1000));
const text = 'Kila mtu ana haki ya kuishi, uhuru na usalama wa nafsi yake.';
const win = { context: 32, stride: 12 }; // 5 windows, overlapping

/** Counts calls to score and head. */
function counting(e: Engine): Engine & { scores: number; heads: number } {
  const c = {
    ...e,
    scores: 0,
    heads: 0,
    async score(req: ScoreRequest) {
      c.scores++;
      return e.score(req);
    },
    async head(req: HeadRequest) {
      c.heads++;
      return e.head!(req);
    },
  };
  return c;
}

const scope = (cache: ScoreCache, extra: Partial<CompareCache> = {}): CompareCache => ({
  cache,
  referenceModel: 'fp-hash',
  treatedModel: 'q-hash',
  tokenizer: 'tok',
  bos: null,
  ...extra,
});

for (const kind of ['reference', 'ort'] as const) {
  const make = (m: typeof model) =>
    kind === 'ort' ? ortEngine(m, { headRows: 7 }) : Promise.resolve(referenceEngine(m));

  test(`${kind} engine: head() on score()'s hidden states gives the same NLL, top-1 and log-probabilities, bit for bit`, async () => {
    const e = await make(model);
    const w = ids.subarray(0, 30);
    const a = await e.score({ ids: w, wantLogProbs: true, wantHidden: true });
    const plain = await e.score({ ids: w, wantLogProbs: true });
    assert.equal(a.hidden!.length, 30 * e.hiddenWidth!);
    const b = await e.head!({ ids: w, hidden: a.hidden!, wantLogProbs: true });
    assert.deepEqual(b.nll, a.nll);
    assert.deepEqual(b.top1, a.top1);
    assert.deepEqual(b.logProbs, a.logProbs);
    // Asking for the hidden states changes nothing else.
    assert.deepEqual(plain.nll, a.nll);
    assert.deepEqual(plain.logProbs, a.logProbs);
    await assert.rejects(e.head!({ ids: w, hidden: a.hidden!.subarray(1) }), /hidden values for a window of 30 ids/);
    await e.dispose();
  });

  test(`${kind} engine: comparisons through the cache equal the uncached ones exactly; the second time no model runs`, async (t) => {
    const fp = counting(await make(model));
    const q = counting(await make(treatedModel));
    const cache = new ScoreCache(tempDir(t, 'scores'));
    const plain = await compareOnText({ reference: fp, treated: q, ids, text, ...win });
    const plainNoKl = await compareOnText({ reference: fp, treated: q, ids, text, kl: false, ...win });
    fp.scores = q.scores = 0;
    const first = await compareOnText({ reference: fp, treated: q, ids, text, scores: scope(cache), ...win });
    assert.deepEqual(first, plain);
    assert.deepEqual(cache.stats, { hits: 0, misses: 3, writes: 3, headOnly: 0, withoutHidden: 0 });
    assert.equal(fp.scores, 5);
    assert.equal(q.scores, 5);
    // Everything from the cache: identical, and neither model runs.
    const again = new ScoreCache(cache.dir);
    const second = await compareOnText({ reference: fp, treated: q, ids, text, scores: scope(again), ...win });
    assert.deepEqual(second, plain);
    assert.equal(fp.scores + q.scores + fp.heads, 10);
    assert.deepEqual(again.stats, { hits: 3, misses: 0, writes: 0, headOnly: 0, withoutHidden: 0 });
    const noKl = await compareOnText({ reference: fp, treated: q, ids, text, kl: false, scores: scope(again), ...win });
    assert.deepEqual(noKl, plainNoKl);
    assert.equal(fp.scores + q.scores + fp.heads, 10);
    // Another treated model against the cached full-precision one: the reference runs its head only.
    const q2 = counting(await make(treatedModel));
    const third = new ScoreCache(cache.dir);
    const other = await compareOnText({
      reference: fp,
      treated: q2,
      ids,
      text,
      scores: scope(third, { treatedModel: 'q2-hash' }),
      ...win,
    });
    assert.deepEqual(other, plain); // same weights under another name: the same numbers
    assert.equal(fp.scores, 5);
    assert.equal(fp.heads, 5);
    assert.equal(q2.scores, 5);
    assert.equal(third.stats.headOnly, 5);
    for (const e of [fp, q, q2]) await e.dispose();
  });

  test(`${kind} engine: a baseline through the cache equals scoreTokens and keeps hidden states a comparison then uses`, async (t) => {
    const fp = counting(await make(model));
    const q = counting(await make(treatedModel));
    const cache = new ScoreCache(tempDir(t, 'scores'));
    const s = await scoreTokens(fp, ids, win);
    const m = { cache, model: 'fp-hash', tokenizer: 'tok', bos: null, keepHidden: true };
    const totals = await scoreTextCached(fp, ids, text, win, m);
    assert.equal(totals.nllNats, s.nllSum);
    assert.equal(totals.tokens, ids.length - 1);
    assert.deepEqual(await scoreTextCached(fp, ids, text, win, m), totals);
    assert.equal(fp.scores, 10); // scoreTokens + the first cached call; the second is a hit
    const plain = await compareOnText({ reference: fp, treated: q, ids, text, ...win });
    fp.scores = 0;
    const c = await compareOnText({ reference: fp, treated: q, ids, text, scores: scope(cache), ...win });
    assert.deepEqual(c, plain);
    assert.equal(fp.scores, 0);
    assert.equal(fp.heads, 5);
    await fp.dispose();
    await q.dispose();
  });
}

test('a changed setting (stride, context, BOS, tokenizer, model, engine, text) is a miss, never a wrong hit', async (t) => {
  const cache = new ScoreCache(tempDir(t, 'scores'));
  const e = referenceEngine(model);
  const u = { ids, text, tokenizer: 'tok', bos: null };
  const base = unitKey('fp', e, win, u);
  cache.putScores(base, { nllSum: 1.25, count: ids.length - 1, top1: new Int32Array(ids.length - 1) });
  assert.equal(cache.getScores(base)?.nllSum, 1.25);
  const changed = [
    unitKey('fp', e, { context: 32, stride: 11 }, u),
    unitKey('fp', e, { context: 31, stride: 12 }, u),
    unitKey('fp', e, win, { ...u, bos: 5 }),
    unitKey('fp', e, win, { ...u, tokenizer: 'other' }),
    unitKey('fp2', e, win, u),
    unitKey('fp', { name: 'ort', identity: 'ort 1.30.0 threads=2' }, win, u),
    unitKey('fp', e, win, { ...u, text: `${text} ` }),
    unitKey('fp', e, win, { ...u, ids: Int32Array.from(ids, (x, i) => (i === 3 ? x + 1 : x)) }),
  ];
  for (const k of changed) assert.equal(cache.getScores(k), undefined, JSON.stringify(k));
  assert.equal(cache.stats.misses, changed.length);
  // KL is keyed by its reference too.
  cache.putKl(base, { model: 'ref', engine: 'reference' }, Float64Array.from([0.5, 0.25]));
  assert.deepEqual(cache.getKl(base, { model: 'ref', engine: 'reference' }), Float64Array.from([0.5, 0.25]));
  assert.equal(cache.getKl(base, { model: 'ref2', engine: 'reference' }), undefined);
});

test('a torn or zero-filled entry is ignored (a miss), and the next computation rewrites it', async (t) => {
  const dir = tempDir(t, 'scores');
  const fp = counting(referenceEngine(model));
  const q = counting(referenceEngine(treatedModel));
  const plain = await compareOnText({ reference: fp, treated: q, ids, text, ...win });
  await compareOnText({ reference: fp, treated: q, ids, text, scores: scope(new ScoreCache(dir)), ...win });
  const files = readdirSync(dir).flatMap((d) => readdirSync(join(dir, d)).map((f) => join(dir, d, f)));
  assert.equal(files.length, 3);
  const scoresFile = files.filter((f) => f.endsWith('.scores')).sort((a, b) => statSync(b).size - statSync(a).size)[0]; // the full-precision one (hidden states)
  const whole = readFileSync(scoresFile);
  writeFileSync(scoresFile, whole.subarray(0, whole.length - 100)); // torn: a crash mid-write without rename
  const klFile = files.find((f) => f.endsWith('.kl'))!;
  const kl = readFileSync(klFile);
  writeFileSync(klFile, Buffer.concat([kl.subarray(0, kl.length - 64), Buffer.alloc(64)])); // zero-filled tail
  // A temporary file of a writer that was killed is no entry either.
  writeFileSync(`${scoresFile}.999.abcd.tmp`, whole);
  const c = new ScoreCache(dir);
  fp.scores = q.scores = 0;
  const r = await compareOnText({ reference: fp, treated: q, ids, text, scores: scope(c), ...win });
  assert.deepEqual(r, plain);
  // the treated model's scores only
  assert.deepEqual({ hits: c.stats.hits, misses: c.stats.misses }, { hits: 1, misses: 2 });
  assert.equal(fp.scores, 5); // the full-precision model ran again (its entry was torn)
  assert.deepEqual(readFileSync(scoresFile), whole); // and its entry is whole again
  const d = new ScoreCache(dir);
  assert.deepEqual(await compareOnText({ reference: fp, treated: q, ids, text, scores: scope(d), ...win }), plain);
  assert.equal(d.stats.misses, 0);
});

test('hidden states beyond the size bound are not kept; the entry still is', async (t) => {
  const dir = tempDir(t, 'scores');
  const e = referenceEngine(model);
  const small = new ScoreCache(dir, 1000); // bytes: far below one unit's hidden states
  const m = { cache: small, model: 'fp', tokenizer: 'tok', bos: null, keepHidden: true };
  await scoreTextCached(e, ids, text, win, m);
  assert.equal(small.stats.withoutHidden, 1);
  const back = new ScoreCache(dir).getScores(unitKey('fp', e, win, { ids, text, tokenizer: 'tok', bos: null }), {
    hidden: true,
  });
  assert.ok(back);
  assert.equal(back.hidden, undefined);
});
