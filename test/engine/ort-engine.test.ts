// The onnxruntime engine's contract beyond the golden numbers: input errors are DataErrors that
// say what to do, the head's row chunking does not change results, sessions are reused across
// windows of different lengths, and a disposed engine refuses to score.
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ortEngine } from '../../src/engine/ort/engine.ts';
import { alibiSlopes } from '../../src/engine/ort/layers.ts';
import { headChunks, headRowsFor, setDefaultThreads, threadsFor } from '../../src/engine/ort/runtime.ts';
import { referenceEngine } from '../../src/engine/reference.ts';
import { DataError } from '../../src/errors.ts';
import { normalizeConfig } from '../../src/model/config.ts';
import { loadConfig, loadModel } from '../../src/model/load.ts';
import { outputShare } from '../../src/model/spec.ts';
import { withWeights } from '../../src/model/model.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';
import { Rng } from '../../src/util/rng.ts';
import { GOLDEN } from '../helpers/cli.ts';
import { GPT2_SMALL_RAW, TINYLLAMA_RAW } from '../helpers/configs.ts';

const model = loadModel(`${GOLDEN}models/gpt2-a`); // vocab 1000, 128 positions

test('bad windows are DataErrors that say what to do', async () => {
  const e = await ortEngine(model);
  const check = (ids: number[], re: RegExp) =>
    assert.rejects(e.score({ ids: Int32Array.from(ids) }), (err: unknown) => {
      assert.ok(err instanceof DataError, String(err));
      assert.match((err as Error).message, re);
      return true;
    });
  await check([5], /a window of 1 token has nothing to score; give at least 2 token ids/);
  await check([5, 1000], /token id 1000 at position 1 is outside the vocabulary \(0\.\.999\)/);
  await check([5, -1], /token id -1 at position 1 is outside the vocabulary/);
  await check(
    Array.from({ length: 129 }, () => 3),
    /a window of 129 tokens is longer than the model's 128 positions; use a shorter context/,
  );
  await e.dispose();
  await assert.rejects(e.score({ ids: Int32Array.from([1, 2]) }), /after dispose/);
});

test('head chunking and window lengths leave the numbers unchanged', async () => {
  const whole = await ortEngine(model, { headRows: 1024, threads: 1 });
  const chunked = await ortEngine(model, { headRows: 3 });
  const ids = Int32Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % 1000);
  const a = await whole.score({ ids, wantLogits: true });
  const b = await chunked.score({ ids, wantLogits: true });
  for (let t = 0; t < a.nll.length; t++) assert.ok(Math.abs(a.nll[t] - b.nll[t]) <= 1e-6);
  assert.deepEqual(a.top1, b.top1);
  for (let i = 0; i < a.logits!.length; i++) assert.ok(Math.abs(a.logits![i] - b.logits![i]) <= 1e-5);
  // log-probabilities: one chunk hands back the head's own output, several are assembled
  const lpA = (await whole.score({ ids, wantLogProbs: true })).logProbs!;
  const lpB = (await chunked.score({ ids, wantLogProbs: true })).logProbs!;
  assert.equal(lpA.length, (ids.length - 1) * model.config.vocabSize);
  assert.equal(lpB.length, lpA.length);
  for (let i = 0; i < lpA.length; i++) assert.ok(Math.abs(lpA[i] - lpB[i]) <= 1e-5);
  // A shorter window of the same prefix gives the prefix's numbers (causal attention).
  const short = await chunked.score({ ids: ids.subarray(0, 9) });
  for (let t = 0; t < 8; t++) assert.ok(Math.abs(short.nll[t] - a.nll[t]) <= 1e-5);
  await whole.dispose();
  await chunked.dispose();
});

test('threads: one for a narrow model, else the cores the replicate was given (setDefaultThreads), else every core', () => {
  try {
    assert.equal(threadsFor({ hiddenSize: 128 }), 1);
    assert.equal(threadsFor({ hiddenSize: 768 }), availableParallelism());
    setDefaultThreads(3);
    assert.equal(threadsFor({ hiddenSize: 768 }), 3);
    assert.equal(threadsFor({ hiddenSize: 128 }), 1);
    assert.equal(threadsFor({ hiddenSize: 768 }, 2), 2, 'a requested count wins');
    setDefaultThreads(0.5);
    assert.equal(threadsFor({ hiddenSize: 768 }), 1);
  } finally {
    setDefaultThreads(null);
  }
  assert.equal(threadsFor({ hiddenSize: 768 }), availableParallelism());
});

test('the default head chunk: [rows, V] float32 within 8 MiB, or 32 MiB where the output matrix is ≥ 1/8 of the model', () => {
  const gpt2 = normalizeConfig({ ...GPT2_SMALL_RAW });
  const tinyllama = normalizeConfig({ ...TINYLLAMA_RAW });
  const mini = loadConfig('models/gpt2-mini');
  assert.ok(outputShare(gpt2) > 0.3 && outputShare(gpt2) < 0.32, String(outputShare(gpt2))); // 38.6 M of 124.4 M
  assert.ok(outputShare(tinyllama) > 0.05 && outputShare(tinyllama) < 0.07, String(outputShare(tinyllama)));
  assert.equal(headRowsFor(gpt2), 166); // 32 MiB / (4 · 50257)
  assert.equal(headRowsFor(tinyllama), 65); // 8 MiB / (4 · 32000): its memory ratio kept
  assert.equal(headRowsFor(mini), 256); // at most 256 rows
  assert.equal(headRowsFor({ ...tinyllama, vocabSize: 10_000_000 }), 1);
  assert.equal(headRowsFor(tinyllama, 7.9), 7);
});

test('headChunks: chunks of headRows rows covering every row, never a lone last row', () => {
  assert.deepEqual(headChunks(10, 4), [
    [0, 4],
    [4, 8],
    [8, 10],
  ]);
  assert.deepEqual(headChunks(9, 4), [
    [0, 4],
    [4, 9],
  ]); // not [8, 9]
  assert.deepEqual(headChunks(1, 4), [[0, 1]]);
  assert.deepEqual(headChunks(0, 4), []);
  for (let rows = 1; rows < 40; rows++)
    for (const h of [2, 3, 5, 41]) {
      const c = headChunks(rows, h);
      assert.equal(c[0][0], 0);
      assert.equal(c.at(-1)![1], rows);
      for (let i = 1; i < c.length; i++) assert.equal(c[i][0], c[i - 1][1]);
      for (const [a, b] of c) assert.ok(b - a <= h + 1 && (b - a >= 2 || rows === 1), `${rows}/${h}: ${a}..${b}`);
    }
});

// onnxruntime multiplies a single row by another kernel (its sums round differently): with headChunks
// no position is scored alone, so the chunk size does not change a number.
test('the head chunk size does not change NLL, top-1 or log-probabilities (windows of 2 to 24 tokens, chunks of 2 to 64 rows)', async () => {
  const model = loadModel(join(GOLDEN, 'models', 'gpt2-b'));
  const engines = await Promise.all(
    [2, 3, 5, 64].map((headRows) => ortEngine(model, { threads: 1, headRows, weights: 'inputs' })),
  );
  try {
    const rng = new Rng(3);
    for (let T = 2; T <= 24; T++) {
      const ids = Int32Array.from({ length: T }, () => rng.int(model.config.vocabSize));
      const [first, ...rest] = await Promise.all(engines.map((e) => e.score({ ids, wantLogProbs: true })));
      for (const r of rest) {
        for (let t = 0; t < T - 1; t++) assert.ok(Object.is(r.nll[t], first.nll[t]), `T=${T} position ${t}`);
        assert.deepEqual([...r.top1], [...first.top1]);
        assert.ok(
          r.logProbs!.every((x, i) => Object.is(x, first.logProbs![i])),
          `T=${T} log-probabilities`,
        );
      }
    }
  } finally {
    for (const e of engines) await e.dispose();
  }
});

test('ALiBi slopes follow BLOOM for powers of two and other head counts', () => {
  assert.deepEqual(Array.from(alibiSlopes(4)), [0.25, 0.0625, 0.015625, 0.00390625]);
  const six = Array.from(alibiSlopes(6));
  // cp = 4: 2^-2k for k = 1..4, then (2^-1)^k for k = 1, 3
  assert.deepEqual(six, [0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125]);
});

test('replaced weights are what the engine runs: a changed block matrix, an output matrix untied from the embedding', async () => {
  const ids = Int32Array.from([3, 14, 15, 92, 65, 35, 89, 79, 32, 38]);
  const scaled = (name: string, k: number): Tensor => {
    const t = model.weights.get(name)!;
    return { data: t.data.map((x) => x * k), shape: t.shape };
  };
  const base = await ortEngine(model);
  const original = await base.score({ ids });
  await base.dispose();
  for (const [name, k] of [
    ['transformer.h.0.mlp.c_fc.weight', 1.5],
    ['lm_head.weight', 0.5],
  ] as const) {
    const changed = withWeights(model, new Map([[name, scaled(name, k)]]));
    const e = await ortEngine(changed);
    const r = await e.score({ ids });
    const ref = await referenceEngine(changed).score({ ids });
    await e.dispose();
    let moved = 0;
    for (let t = 0; t < r.nll.length; t++) {
      assert.ok(Math.abs(r.nll[t] - ref.nll[t]) <= 1e-4, `${name}: ort ${r.nll[t]} vs reference ${ref.nll[t]}`);
      moved = Math.max(moved, Math.abs(r.nll[t] - original.nll[t]));
    }
    assert.ok(moved > 1e-3, `${name}: the change shows in the NLL`);
  }
});

test('KL against a reference inside the head: as the float64 sum over returned rows, other outputs unchanged, on both engines', async () => {
  const { quantizeModel } = await import('../../src/quant/apply.ts');
  const { klDivergence } = await import('../../src/kernels/softmax.ts');
  const q = quantizeModel(model, { spec: { bits: 4, scheme: 'asym', groupSize: 32 } }).model;
  const ids = Int32Array.from({ length: 50 }, (_, i) => (i * 53 + 7) % 1000);
  const V = model.config.vocabSize;
  for (const make of [
    (m: typeof model) => ortEngine(m, { threads: 1 }),
    (m: typeof model) => ortEngine(m, { headRows: 7 }), // chunks that start before and after `from`
    async (m: typeof model) => referenceEngine(m),
  ]) {
    const fp = await make(model);
    const ref = (await fp.score({ ids, wantLogProbs: true })).logProbs!;
    const qe = await make(q);
    const plain = await qe.score({ ids, wantLogProbs: true });
    let worst = 0;
    for (const from of [0, 20, 48]) {
      const rows = ref.subarray(from * V);
      const r = await qe.score({ ids, klReference: { rows, from } });
      assert.deepEqual(r.nll, plain.nll, 'NLL unchanged by the KL input');
      assert.deepEqual(r.top1, plain.top1);
      assert.equal(r.kl!.length, ids.length - 1 - from);
      for (let t = from; t < ids.length - 1; t++) {
        const want = klDivergence(ref, plain.logProbs!, t * V, t * V, V);
        assert.ok(want > 0 && Number.isFinite(r.kl![t - from]));
        worst = Math.max(worst, Math.abs(r.kl![t - from] - want) / want);
        if (fp.name === 'reference') assert.equal(r.kl![t - from], want, 'the reference engine: the same float64 sum');
      }
    }
    // Measured: 5.6e-8 on onnxruntime (float32 terms), 0 on the reference engine.
    assert.ok(worst < 1e-4, `${fp.name}: KL within 1e-4 relative of the float64 sum (worst ${worst})`);
    // A reference of the wrong size is refused.
    await assert.rejects(qe.score({ ids, klReference: { rows: ref.subarray(0, 5), from: 3 } }), /share a tokenizer/);
    await qe.dispose();
    await fp.dispose();
  }
});

test('KL from the reference’s hidden states: the treated engine runs the full-precision head itself, bit for bit as from its rows', async () => {
  const { quantizeModel } = await import('../../src/quant/apply.ts');
  const q = quantizeModel(model, { spec: { bits: 4, scheme: 'asym', groupSize: 32 } }).model;
  // an output matrix that differs from the embedding: the reference's head must be the reference's
  const untied = withWeights(q, new Map([['lm_head.weight', scaledCopy(q.weights.get('lm_head.weight')!, 0.9)]]));
  const ids = Int32Array.from({ length: 60 }, (_, i) => (i * 53 + 7) % 1000);
  const V = model.config.vocabSize;
  for (const [headRows, threads] of [
    [256, 1],
    [7, 2],
  ]) {
    for (const treated of [q, untied]) {
      const fp = await ortEngine(model, { headRows, threads });
      const s = await fp.score({ ids, wantHidden: true });
      const rows = (await fp.head!({ ids, hidden: s.hidden!, wantLogProbs: true })).logProbs!;
      const qe = await ortEngine(treated, { headRows, threads, klHeadOf: fp });
      assert.equal(qe.klHeadOf, fp);
      for (const from of [0, 20, 58]) {
        const a = await qe.score({ ids, klReference: { rows: rows.subarray(from * V), from } });
        const b = await qe.score({ ids, klReferenceHidden: { hidden: s.hidden!, from } });
        assert.deepEqual(b.kl, a.kl, `headRows ${headRows}, from ${from}: the same KL, bit for bit`);
        assert.deepEqual(b.nll, a.nll);
        assert.deepEqual(b.top1, a.top1);
      }
      await assert.rejects(
        qe.score({ ids, klReferenceHidden: { hidden: s.hidden!.subarray(1), from: 0 } }),
        /does not fit/,
      );
      await qe.dispose();
      await fp.dispose();
    }
  }
  // an engine that cannot reproduce the reference's head (other head chunking) does not offer it
  const fp = await ortEngine(model, { headRows: 5 });
  const other = await ortEngine(q, { headRows: 6, klHeadOf: fp });
  assert.equal(other.klHeadOf, undefined);
  await assert.rejects(
    other.score({ ids, klReferenceHidden: { hidden: new Float32Array(60 * 64), from: 0 } }),
    /klHeadOf/,
  );
  await other.dispose();
  await fp.dispose();
});

function scaledCopy(t: Tensor, k: number): Tensor {
  return { data: t.data.map((x) => x * k), shape: t.shape };
}
