import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compareOnText,
  degradationStatistic,
  deltaMeasures,
  klDivergence,
  ReferenceCache,
  referenceKey,
  summarizeDegradation,
} from '../../src/eval/degradation.ts';
import { bitsPerByte, textTotals, tokenPerplexity } from '../../src/eval/metrics.ts';
import { Rng } from '../../src/util/rng.ts';
import { DataError } from '../../src/errors.ts';
import { bigramEngine, bigramTable } from './fake-engine.ts';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
const V = 11;
const fpTable = bigramTable(V, 3);
// A "quantised" model: the same table with its logits perturbed, renormalised.
const qTable = (() => {
  const rng = new Rng(99);
  const t = new Float32Array(V * V);
  for (let a = 0; a < V; a++) {
    const l = Array.from({ length: V }, (_, b) => fpTable[a * V + b] + 0.3 * rng.normal());
    const m = Math.max(...l);
    const lse = m + Math.log(l.reduce((s, x) => s + Math.exp(x - m), 0));
    for (let b = 0; b < V; b++) t[a * V + b] = l[b] - lse;
  }
  return t;
})();
const rng = new Rng(5);
const ids = Array.from({ length: 41 }, () => rng.int(V));
const text = 'Kila mtu ana haki ya kuishi, uhuru na usalama.';

test('KL divergence: hand-computed value, zero for identical rows, p = 0 terms vanish', () => {
  const lp = [Math.log(0.5), Math.log(0.5)];
  const lq = [Math.log(0.25), Math.log(0.75)];
  close(klDivergence(lp, lq), 0.5 * Math.log(2) + 0.5 * Math.log(0.5 / 0.75), 1e-15);
  assert.equal(klDivergence(lq, lq), 0);
  close(klDivergence([0, -Infinity], [Math.log(0.5), Math.log(0.5)]), Math.log(2), 1e-15);
  assert.equal(klDivergence([Math.log(0.5), Math.log(0.5)], [0, -Infinity]), Infinity);
});

test('a model compared with itself: KL 0 everywhere, full top-1 agreement, no degradation', async () => {
  const e = bigramEngine(fpTable, V);
  const c = await compareOnText({ reference: e, treated: e, ids, text, context: 8, stride: 3 });
  assert.equal(c.kl.length, ids.length - 1);
  assert.ok(c.kl.every((x) => x === 0));
  assert.equal(c.top1Agree, ids.length - 1);
  const d = summarizeDegradation([c]);
  assert.equal(d.deltaNll, 0);
  assert.equal(d.deltaBpb, 0);
  assert.equal(d.pplRatioMinus1, 0);
  assert.equal(d.klMax, 0);
  assert.equal(d.top1Agreement, 1);
});

test('windowed comparison equals the position-by-position computation from the tables', async () => {
  const c = await compareOnText({
    reference: bigramEngine(fpTable, V),
    treated: bigramEngine(qTable, V),
    ids,
    text,
    context: 6,
    stride: 2,
  });
  let fpSum = 0;
  let qSum = 0;
  for (let i = 1; i < ids.length; i++) {
    const a = ids[i - 1];
    fpSum -= fpTable[a * V + ids[i]];
    qSum -= qTable[a * V + ids[i]];
    close(c.kl[i - 1], klDivergence(fpTable.subarray(a * V, a * V + V), qTable.subarray(a * V, a * V + V)), 1e-12);
  }
  close(c.fp.nllNats, fpSum);
  close(c.q.nllNats, qSum);
  const d = summarizeDegradation([c]);
  const bytes = Buffer.byteLength(text);
  close(d.deltaBpb, (qSum - fpSum) / (bytes * Math.LN2));
  close(d.deltaBpb, bitsPerByte(c.q) - bitsPerByte(c.fp));
  close(d.pplRatioMinus1, tokenPerplexity(c.q) / tokenPerplexity(c.fp) - 1);
  close(d.deltaNll, (qSum - fpSum) / (ids.length - 1));
  assert.ok(d.klMean > 0 && d.klP50 <= d.klP90 && d.klP90 <= d.klP99 && d.klP99 <= d.klMax);
  assert.ok(d.top1Agreement > 0 && d.top1Agreement <= 1);
});

test('full-precision results are computed once and reused from the cache', async () => {
  const cache = new ReferenceCache();
  const fp = bigramEngine(fpTable, V);
  const first = await compareOnText({
    reference: fp,
    treated: bigramEngine(qTable, V),
    ids,
    text,
    context: 8,
    cache,
    modelKey: 'm',
  });
  const calls = fp.calls.length;
  assert.ok(calls > 0);
  const again = await compareOnText({
    reference: fp,
    treated: bigramEngine(qTable, V),
    ids,
    text,
    context: 8,
    cache,
    modelKey: 'm',
  });
  assert.equal(fp.calls.length, calls, 'the full-precision model was not run again');
  assert.deepEqual(again, first);
  assert.ok(cache.size > (ids.length - 1) * V * 4);
  // another window setting or another model key is another entry
  assert.notEqual(referenceKey('m', ids, { context: 8 }), referenceKey('m', ids, { context: 8, stride: 2 }));
  assert.notEqual(referenceKey('m', ids, { context: 8 }), referenceKey('m2', ids, { context: 8 }));
});

test('a cache too small for the log-probabilities keeps NLL and top-1 only, and stays within budget', async () => {
  const cache = new ReferenceCache(2000); // < 40 rows × 11 × 4 bytes
  const fp = bigramEngine(fpTable, V);
  const q = bigramEngine(qTable, V);
  const withKl = await compareOnText({ reference: fp, treated: q, ids, text, context: 8, cache, modelKey: 'm' });
  assert.ok(cache.size <= 2000 && cache.size > 0);
  const calls = fp.calls.length;
  // KL needs the rows again: the reference is rerun window by window …
  const again = await compareOnText({ reference: fp, treated: q, ids, text, context: 8, cache, modelKey: 'm' });
  assert.ok(fp.calls.length > calls);
  assert.deepEqual(again.kl, withKl.kl);
  // … but NLL-only comparisons reuse the cached NLLs.
  const calls2 = fp.calls.length;
  const noKl = await compareOnText({
    reference: fp,
    treated: q,
    ids,
    text,
    context: 8,
    cache,
    modelKey: 'm',
    kl: false,
  });
  assert.equal(fp.calls.length, calls2);
  assert.equal(noKl.kl.length, 0);
  assert.equal(noKl.q.nllNats, withKl.q.nllNats);
  assert.equal(noKl.top1Agree, withKl.top1Agree);
  const d = summarizeDegradation([noKl]);
  assert.ok(Number.isNaN(d.klMean));
});

test('the cache evicts the least recently used entries to stay within its budget', () => {
  const entry = () => ({ nll: new Float64Array(10), top1: new Int32Array(10), vocab: 0 }); // 120 bytes
  const cache = new ReferenceCache(250);
  cache.set('a', entry());
  cache.set('b', entry());
  cache.get('a');
  cache.set('c', entry());
  assert.ok(cache.get('a'));
  assert.equal(cache.get('b'), undefined);
  assert.ok(cache.get('c'));
  assert.equal(cache.size, 240);
});

test('degradation of several texts sums their totals (not the mean of per-text ratios)', () => {
  const fp = [textTotals('aaaa', 4, 2), textTotals('bb', 1, 1)];
  const q = [textTotals('aaaa', 6, 2), textTotals('bb', 1.5, 1)];
  const d = summarizeDegradation(fp.map((f, i) => ({ fp: f, q: q[i], kl: new Float64Array(0), top1Agree: 1 })));
  close(d.deltaBpb, (7.5 - 5) / (6 * Math.LN2));
  close(d.deltaNll, 2.5 / 3);
  close(d.pplRatioMinus1, Math.exp(2.5 / 3) - 1);
  close(d.top1Agreement, 2 / 3);
  close(deltaMeasures(fp[0], q[0]).deltaBpb, 2 / (4 * Math.LN2));
});

test('the cheap per-sample statistics agree with the full summary', async () => {
  const parts = [];
  for (let k = 0; k < 3; k++) {
    const r = new Rng(100 + k);
    const unitIds = Array.from({ length: 20 + k }, () => r.int(V));
    parts.push(
      await compareOnText({
        reference: bigramEngine(fpTable, V),
        treated: bigramEngine(qTable, V),
        ids: unitIds,
        text: text.slice(k),
        context: 8,
      }),
    );
  }
  const d = summarizeDegradation(parts);
  for (const m of ['deltaNll', 'deltaBpb', 'pplRatioMinus1', 'klMean', 'top1Agreement'] as const)
    close(degradationStatistic(m)(parts), d[m], 1e-12);
});

test('a text shorter than 2 tokens is refused with a DataError, not a crash', async () => {
  const e = bigramEngine(fpTable, V);
  for (const short of [[], [3]]) {
    await assert.rejects(
      compareOnText({ reference: e, treated: e, ids: short, text: 'a', context: 8 }),
      (err: Error) => err instanceof DataError && /nothing to compare/.test(err.message),
    );
  }
});
