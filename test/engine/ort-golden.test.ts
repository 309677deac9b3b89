// Golden tests of the onnxruntime engine: every model in test/fixtures/golden/models against the
// reference outputs of Hugging Face transformers (float32), with the tolerances of
// test/fixtures/golden/README.md — logits ≤ 1e-4 (full logits of sequence 0, last logits of every
// sequence), per-token NLL ≤ 1e-4, mean NLL ≤ 1e-5 — plus 20 greedy tokens identical, and the
// log-probabilities and top-1 consistent with the logits. The default engine (fused attention,
// weights fed as inputs) is checked in full; the other variant (standard-op attention, weights as
// initialisers) on the same numbers.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ortEngine, type OrtEngineOptions } from '../../src/engine/ort/engine.ts';
import type { Engine } from '../../src/engine/types.ts';
import { loadModel } from '../../src/model/load.ts';
import { GOLDEN_MODELS, assertGoldenScores, goldenReference } from '../helpers/golden.ts';

const MODELS = GOLDEN_MODELS;
const engines: Engine[] = [];
after(async () => {
  for (const e of engines) await e.dispose();
});

function argmaxRow(x: Float32Array, row: number, V: number): number {
  let best = 0;
  for (let i = 1; i < V; i++) if (x[row * V + i] > x[row * V + best]) best = i;
  return best;
}

test('the golden fixtures hold all 12 models', () => {
  assert.deepEqual(MODELS, [
    'bloom-a',
    'gemma-a',
    'gpt2-a',
    'gpt2-b',
    'gpt_neox-a',
    'gpt_neox-b',
    'llama-a',
    'mistral-a',
    'opt-a',
    'opt-b',
    'qwen2-a',
    'xglm-a',
  ]);
});

for (const name of MODELS) {
  test(`ort golden ${name}: logits, NLL, log-probs, top-1 and greedy tokens match transformers`, async () => {
    const { dir, ref } = goldenReference(name);
    const model = loadModel(dir);
    const V = model.config.vocabSize;
    // Small head chunks, so the 33- and 128-token sequences cross chunk boundaries.
    const engine = await ortEngine(model, { headRows: 20 });
    engines.push(engine);
    for (const [i, s] of ref.sequences.entries()) {
      const ids = Int32Array.from(s.input_ids);
      const T = ids.length;
      const r = await engine.score({ ids, wantLogits: true, wantLogProbs: true });
      const logits = r.logits!;
      assert.equal(logits.length, T * V);
      assertGoldenScores(`${name} seq ${i}`, s, logits, r.nll, V);
      // log-probs are the logits minus each row's log-sum-exp; nll is minus the target's entry.
      const lp = r.logProbs!;
      assert.equal(lp.length, (T - 1) * V);
      for (let t = 0; t < T - 1; t++) {
        assert.ok(
          Math.abs(-lp[t * V + ids[t + 1]] - r.nll[t]) <= 1e-6,
          `${name} seq ${i} row ${t}: nll is −logProbs[target]`,
        );
        const shift = logits[t * V] - lp[t * V];
        for (const j of [1, V >> 1, V - 1])
          assert.ok(Math.abs(logits[t * V + j] - lp[t * V + j] - shift) <= 1e-4, `${name} row ${t} log-softmax shift`);
        assert.equal(r.top1[t], argmaxRow(logits, t, V), `${name} seq ${i} top1 at ${t}`);
      }
      // NLL alone (no logits) is the same computation.
      const plain = await engine.score({ ids });
      assert.deepEqual(plain.nll, r.nll);
      assert.deepEqual(plain.top1, r.top1);
      assert.equal(plain.logits, undefined);
      assert.equal(plain.logProbs, undefined);
    }
    const seq = [...ref.greedy.prompt];
    for (let k = 0; k < ref.greedy.new_tokens.length; k++) {
      const r = await engine.score({ ids: Int32Array.from(seq), wantLogits: true });
      seq.push(argmaxRow(r.logits!, seq.length - 1, V));
    }
    assert.deepEqual(seq.slice(ref.greedy.prompt.length), ref.greedy.new_tokens, `${name} greedy tokens`);
  });

  const variant: OrtEngineOptions = { fusedAttention: false, weights: 'initializers' };
  test(`ort golden ${name}, standard-op attention and weights as initialisers: logits and NLL match`, async () => {
    const { dir, ref } = goldenReference(name);
    const model = loadModel(dir);
    const V = model.config.vocabSize;
    const engine = await ortEngine(model, variant);
    engines.push(engine);
    for (const [i, s] of ref.sequences.entries()) {
      const r = await engine.score({ ids: Int32Array.from(s.input_ids), wantLogits: true });
      assertGoldenScores(`${name} seq ${i}`, s, r.logits!, r.nll, V);
    }
  });
}
