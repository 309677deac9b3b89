// The architectures added on Llama's block (Qwen2, Mistral, Gemma) and XGLM, beyond the golden
// comparison itself (test/model/golden.test.ts, test/engine/ort-golden.test.ts): that the golden
// data really tells the alternatives apart (Mistral's W + 1 keys against W keys, Gemma's tanh GELU
// and 1 + w gain), that Mistral's window holds on both engines on the fused path that an equal
// number of query and key/value heads takes, that the quantiser's scope covers every block linear
// and never a bias, and that stale sinusoid buffers in an XGLM file are ignored.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ortEngine } from '../../src/engine/ort/engine.ts';
import { scoreReference } from '../../src/engine/reference.ts';
import type { Engine } from '../../src/engine/types.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { loadModel } from '../../src/model/load.ts';
import type { Model } from '../../src/model/model.ts';
import { quantizeModel } from '../../src/quant/apply.ts';
import { selectTargets } from '../../src/quant/scope.ts';
import { tensor, type Tensor } from '../../src/tensor/tensor.ts';
import { copyConfig, goldenWeights, rawEntries, rawSafetensors, tempDir } from '../helpers/checkpoints.ts';
import { assertClose } from '../helpers/compare.ts';
import { assertGoldenScores, goldenReference } from '../helpers/golden.ts';

const engines: Engine[] = [];
after(async () => {
  for (const e of engines) await e.dispose();
});

function withConfig(model: Model, patch: Partial<ModelConfig>): Model {
  return { ...model, config: { ...model.config, ...patch } };
}

function meanNll(model: Model, ids: number[]): number {
  const r = scoreReference(model, { ids: Int32Array.from(ids) });
  return r.nll.reduce((a, b) => a + b, 0) / r.nll.length;
}

test('the golden data tells the alternatives apart: Mistral W + 1 keys, Gemma tanh GELU and gain 1 + w', () => {
  const { dir, ref } = goldenReference('mistral-a');
  const mistral = loadModel(dir);
  assert.equal(mistral.config.slidingWindow, 16);
  const long = ref.sequences[2]; // 128 tokens, far past the window
  assert.ok(Math.abs(meanNll(mistral, long.input_ids) - long.mean_nll_f32) <= 1e-5);
  // transformers ≥ 4.42 keeps W keys: wrong for these fixtures (README: moves the mean by 0.08)
  assert.ok(Math.abs(meanNll(withConfig(mistral, { slidingWindow: 15 }), long.input_ids) - long.mean_nll_f32) > 1e-2);
  assert.ok(Math.abs(meanNll(withConfig(mistral, { slidingWindow: null }), long.input_ids) - long.mean_nll_f32) > 1e-2);
  // positions 0..W see every earlier key: the 7-token sequence is plain causal attention
  const short = ref.sequences[0].input_ids;
  assert.deepEqual(
    scoreReference(withConfig(mistral, { slidingWindow: null }), { ids: Int32Array.from(short) }).nll,
    scoreReference(mistral, { ids: Int32Array.from(short) }).nll,
  );

  const g = goldenReference('gemma-a');
  const gemma = loadModel(g.dir);
  assert.deepEqual(
    [gemma.config.activation, gemma.config.normGainOffset, gemma.config.embedScale, gemma.config.headDim],
    ['gelu_tanh', 1, 8, 32],
  );
  const seq = g.ref.sequences[1];
  assert.ok(Math.abs(meanNll(gemma, seq.input_ids) - seq.mean_nll_f32) <= 1e-5);
  for (const wrong of [{ activation: 'gelu_erf' as const }, { normGainOffset: 0 }, { embedScale: 1 }]) {
    const logits = scoreReference(withConfig(gemma, wrong), {
      ids: Int32Array.from(g.ref.sequences[0].input_ids),
      wantLogits: true,
    }).logits!;
    let d = 0;
    g.ref.sequences[0].logits_f32!.flat().forEach((v, i) => (d = Math.max(d, Math.abs(logits[i] - v))));
    assert.ok(d > 1e-3, `${JSON.stringify(wrong)} should move the logits, moved ${d}`);
  }
});

test('Mistral with as many key/value heads as query heads: the window holds on both engines and both attention paths', async () => {
  // Repeat each kv head for the query heads that read it: the same function with NKV = NH, so the
  // golden outputs still apply, and the onnxruntime graph takes the fused path for NH = NKV.
  const { dir, ref } = goldenReference('mistral-a');
  const base = loadModel(dir);
  const { numHeads: NH, numKvHeads: NKV, headDim: HS, hiddenSize: C } = base.config;
  const group = NH / NKV;
  const weights = new Map(base.weights);
  for (const [name, t] of base.weights) {
    if (!/self_attn\.[kv]_proj\.weight$/.test(name)) continue;
    const out = new Float32Array(NH * HS * C);
    for (let h = 0; h < NH; h++)
      out.set(t.data.subarray(Math.floor(h / group) * HS * C, (Math.floor(h / group) + 1) * HS * C), h * HS * C);
    weights.set(name, tensor(out, [NH * HS, C]));
  }
  const model: Model = { ...base, config: { ...base.config, numKvHeads: NH }, weights };
  const V = model.config.vocabSize;
  for (const [i, s] of ref.sequences.entries()) {
    const r = scoreReference(model, { ids: Int32Array.from(s.input_ids), wantLogits: true });
    assertGoldenScores(`mistral-a NKV=NH reference seq ${i}`, s, r.logits!, r.nll, V);
  }
  for (const opts of [{}, { fusedAttention: false }]) {
    const engine = await ortEngine(model, opts);
    engines.push(engine);
    for (const [i, s] of ref.sequences.entries()) {
      const r = await engine.score({ ids: Int32Array.from(s.input_ids), wantLogits: true });
      assertGoldenScores(`mistral-a NKV=NH ort ${JSON.stringify(opts)} seq ${i}`, s, r.logits!, r.nll, V);
    }
  }
});

test('quantiser scope: every block linear of each new architecture, never a bias; tied output modes; both engines agree after quantisation', async () => {
  const expected: Record<string, { perLayer: string[]; tied: boolean }> = {
    'qwen2-a': { perLayer: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], tied: true },
    'mistral-a': {
      perLayer: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      tied: false,
    },
    'gemma-a': { perLayer: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], tied: true },
    'xglm-a': { perLayer: ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'fc1', 'fc2'], tied: true },
  };
  for (const [name, e] of Object.entries(expected)) {
    const { dir, ref } = goldenReference(name);
    const model = loadModel(dir);
    const targets = selectTargets(model, { blocks: true, output: 'none', embeddings: false });
    const short = targets.map((t) => `${t.layer}.${t.name.split('.').at(-2)}`);
    assert.deepEqual(
      short,
      [0, 1].flatMap((l) => e.perLayer.map((m) => `${l}.${m}`)),
      name,
    );
    assert.ok(
      targets.every((t) => t.name.endsWith('.weight') && t.kind === 'linear'),
      name,
    );
    const out = selectTargets(model, { blocks: false, output: 'tied', embeddings: false });
    assert.deepEqual(
      out.map((t) => t.replace),
      [e.tied ? ['lm_head.weight', 'model.embed_tokens.weight'] : ['lm_head.weight']],
      name,
    );
    // Quantised (4 bits, group 32, with the output matrix) and scored by both engines: the same numbers.
    const q = quantizeModel(model, {
      spec: { bits: 4, groupSize: 32, scheme: 'asym' },
      scope: { blocks: true, output: 'untied', embeddings: false },
    }).model;
    const ids = Int32Array.from(ref.sequences[1].input_ids);
    const a = scoreReference(q, { ids });
    const engine = await ortEngine(q);
    engines.push(engine);
    const b = await engine.score({ ids });
    assertClose(b.nll, a.nll, { abs: 1e-4, label: `${name} quantised, ort vs reference` });
    const fp = scoreReference(model, { ids });
    assert.notDeepEqual(a.nll, fp.nll, `${name}: quantisation changed nothing`);
  }
});

test('an XGLM file carrying the sinusoid buffer (older transformers, fairseq conversions) loads, the buffer ignored', (t) => {
  const dir = tempDir(t, 'xglm');
  copyConfig('xglm-a', dir);
  const weights = goldenWeights('xglm-a');
  const table: Tensor = tensor(new Float32Array(130 * 64), [130, 64]);
  weights.set('model.embed_positions.weights', table);
  rawSafetensors(join(dir, 'model.safetensors'), rawEntries(weights));
  const model = loadModel(dir);
  assert.deepEqual(model.info.ignored, ['model.embed_positions.weights']);
  const { ref } = goldenReference('xglm-a');
  const s = ref.sequences[0];
  const r = scoreReference(model, { ids: Int32Array.from(s.input_ids), wantLogits: true });
  assertGoldenScores('xglm-a with stale sinusoid', s, r.logits!, r.nll, model.config.vocabSize);
});
