// config.json → ModelConfig: the names of each architecture mapped once, the transformers defaults
// for fields a file leaves out (tie_word_embeddings above all), and every unusable config refused
// with one line naming the field and what to do.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CheckpointError } from '../../src/errors.ts';
import { normalizeConfig } from '../../src/model/config.ts';

function refused(raw: Record<string, unknown>, pattern: RegExp) {
  assert.throws(
    () => normalizeConfig(raw),
    (e: unknown) => {
      assert.ok(e instanceof CheckpointError, String(e));
      assert.match(e.message, pattern);
      assert.doesNotMatch(e.message, /\n|undefined/);
      return true;
    },
  );
}

test('fields left out take the defaults of the transformers config class', () => {
  // tie_word_embeddings: true for GPT2Config, OPTConfig, BloomConfig; false for GPTNeoXConfig and LlamaConfig.
  const gpt2 = normalizeConfig({ model_type: 'gpt2' });
  assert.equal(gpt2.tieWordEmbeddings, true);
  assert.deepEqual(
    [gpt2.hiddenSize, gpt2.numLayers, gpt2.numHeads, gpt2.intermediateSize, gpt2.maxPositions, gpt2.vocabSize],
    [768, 12, 12, 3072, 1024, 50257],
  );
  assert.equal(gpt2.activation, 'gelu_tanh');
  assert.equal(normalizeConfig({ model_type: 'gpt2', n_embd: 64, n_head: 4, n_inner: null }).intermediateSize, 256); // null = 4·hidden
  const opt = normalizeConfig({ model_type: 'opt', hidden_size: 64, num_attention_heads: 4 });
  assert.equal(opt.tieWordEmbeddings, true);
  assert.deepEqual(
    [opt.preNorm, opt.finalNorm, opt.embedDim, opt.positionOffset, opt.normEps, opt.activation],
    [true, true, 64, 2, 1e-5, 'relu'],
  );
  const opt350 = normalizeConfig({
    model_type: 'opt',
    hidden_size: 96,
    num_attention_heads: 6,
    do_layer_norm_before: false,
    word_embed_proj_dim: 48,
  });
  assert.deepEqual([opt350.preNorm, opt350.finalNorm, opt350.embedDim], [false, false, 48]);
  const neox = normalizeConfig({ model_type: 'gpt_neox', hidden_size: 64, num_attention_heads: 4 });
  assert.deepEqual(
    [neox.tieWordEmbeddings, neox.rotaryDims, neox.rotaryBase, neox.parallelResidual, neox.activation],
    [false, 4, 10000, true, 'gelu_erf'],
  );
  const llama = normalizeConfig({ model_type: 'llama', hidden_size: 64, num_attention_heads: 4 });
  assert.deepEqual(
    [llama.tieWordEmbeddings, llama.numKvHeads, llama.rotaryDims, llama.normEps, llama.attentionBias],
    [false, 4, 16, 1e-6, false],
  );
  assert.equal(
    normalizeConfig({ model_type: 'llama', hidden_size: 64, num_attention_heads: 4, tie_word_embeddings: true })
      .tieWordEmbeddings,
    true,
  );
  const bloom = normalizeConfig({ model_type: 'bloom', n_embed: 64, n_layer: 2, num_attention_heads: 4 });
  assert.deepEqual(
    [bloom.tieWordEmbeddings, bloom.hiddenSize, bloom.numHeads, bloom.maxPositions, bloom.positions],
    [true, 64, 4, null, 'alibi'],
  );
});

test("each architecture's names map onto one vocabulary", () => {
  const a = normalizeConfig({
    model_type: 'gpt2',
    n_embd: 96,
    n_head: 4,
    n_layer: 3,
    n_positions: 128,
    layer_norm_epsilon: 1e-6,
  });
  const b = normalizeConfig({
    model_type: 'gpt2',
    hidden_size: 96,
    num_attention_heads: 4,
    num_hidden_layers: 3,
    max_position_embeddings: 128,
    layer_norm_epsilon: 1e-6,
  });
  for (const k of ['hiddenSize', 'numHeads', 'numLayers', 'maxPositions', 'headDim', 'normEps'] as const)
    assert.equal(a[k], b[k], k);
  assert.equal(a.headDim, 24);
  const neox = normalizeConfig({
    model_type: 'gpt_neox',
    hidden_size: 96,
    num_attention_heads: 4,
    rotary_pct: 0.25,
    rotary_emb_base: 500,
    use_parallel_residual: false,
  });
  assert.deepEqual([neox.rotaryDims, neox.rotaryBase, neox.parallelResidual], [6, 500, false]);
  const gqa = normalizeConfig({
    model_type: 'llama',
    hidden_size: 64,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    rope_theta: 500000,
  });
  assert.deepEqual([gqa.numKvHeads, gqa.rotaryBase], [2, 500000]);
  // BloomConfig: n_embed, when given, wins over hidden_size
  assert.equal(normalizeConfig({ model_type: 'bloom', n_embed: 32, hidden_size: 64, n_head: 4 }).hiddenSize, 32);
});

test('unusable configs are refused with one line naming the field and what to do', () => {
  refused(
    {},
    /config\.json has no "model_type"; add the architecture's model_type \(langquant supports gpt2, opt, gpt_neox, llama, bloom, qwen2, mistral, gemma, xglm\)/,
  );
  refused(
    { model_type: 'mamba' },
    /model_type "mamba" is not supported; langquant supports gpt2, opt, gpt_neox, llama, bloom, qwen2, mistral, gemma, xglm/,
  );
  refused({ model_type: 'gpt2', n_head: '4' }, /"n_head" should be a number, found "4"; fix the file/);
  refused({ model_type: 'gpt2', n_layer: 2.5 }, /numLayers must be a positive integer, found 2\.5; fix config\.json/);
  refused(
    { model_type: 'gpt2', n_embd: 64, n_head: 5 },
    /hidden size 64 is not divisible into 5 heads; fix config\.json/,
  );
  refused(
    { model_type: 'llama', hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 3 },
    /4 attention heads are not a multiple of 3 key\/value heads/,
  );
  refused({ model_type: 'gpt2', tie_word_embeddings: 'yes' }, /"tie_word_embeddings" should be true or false/);
  refused(
    { model_type: 'gpt2', activation_function: 'mish' },
    /activation "mish" is not supported; supported: gelu_new/,
  );
  refused(
    { model_type: 'gpt2', scale_attn_weights: false },
    /scale_attn_weights=false .* not supported; use a checkpoint without it/,
  );
  refused(
    { model_type: 'gpt2', scale_attn_by_inverse_layer_idx: true },
    /scale_attn_by_inverse_layer_idx=true .* not supported/,
  );
  refused(
    { model_type: 'opt', layer_norm_elementwise_affine: false },
    /layer_norm_elementwise_affine=false is not supported; use a checkpoint/,
  );
  refused(
    { model_type: 'llama', rope_scaling: { rope_type: 'llama3', factor: 8 } },
    /rope_scaling is not supported for llama \(rope_scaling type "llama3"\)/,
  );
  refused(
    { model_type: 'gpt_neox', rope_scaling: { type: 'linear', factor: 2 } },
    /rope_scaling is not supported for gpt_neox \(rope_scaling type "linear"\)/,
  );
  // an odd rotary width cannot be rotated in pairs (16 · 0.3125 = 5)
  refused(
    { model_type: 'gpt_neox', hidden_size: 64, num_attention_heads: 4, rotary_pct: 0.3125 },
    /5 rotary dimensions per head \(of 16\) is not an even number/,
  );
  refused(
    { model_type: 'gpt_neox', hidden_size: 64, num_attention_heads: 4, rotary_pct: 2 },
    /32 rotary dimensions per head \(of 16\)/,
  );
  refused({ model_type: 'llama', hidden_size: 60, num_attention_heads: 4 }, /15 rotary dimensions per head \(of 15\)/);
});

test("Qwen2, Mistral, Gemma and XGLM: their config classes' defaults and names", () => {
  const qwen = normalizeConfig({
    model_type: 'qwen2',
    hidden_size: 64,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    sliding_window: 32768,
    use_sliding_window: false,
  });
  assert.deepEqual(
    [
      qwen.tieWordEmbeddings,
      qwen.attentionBias,
      qwen.attentionOutBias,
      qwen.mlpBias,
      qwen.slidingWindow,
      qwen.rotaryBase,
      qwen.vocabSize,
      qwen.headDim,
    ],
    [false, true, false, false, null, 10000, 151936, 16],
  );
  // MistralConfig's defaults: 8 key/value heads, a 4096 window
  const mistral = normalizeConfig({ model_type: 'mistral', hidden_size: 128, num_attention_heads: 16 });
  assert.deepEqual(
    [mistral.tieWordEmbeddings, mistral.numKvHeads, mistral.slidingWindow, mistral.attentionBias, mistral.vocabSize],
    [false, 8, 4096, false, 32000],
  );
  assert.equal(
    normalizeConfig({
      model_type: 'mistral',
      hidden_size: 64,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      sliding_window: null,
    }).slidingWindow,
    null,
  );
  const gemma = normalizeConfig({
    model_type: 'gemma',
    hidden_size: 96,
    num_attention_heads: 4,
    head_dim: 32,
    hidden_act: 'gelu',
    hidden_activation: null,
  });
  // hidden_act is ignored: the tanh GELU unless hidden_activation says otherwise; √96 rounded to float32
  assert.deepEqual(
    [gemma.tieWordEmbeddings, gemma.activation, gemma.headDim, gemma.normGainOffset, gemma.embedScale],
    [true, 'gelu_tanh', 32, 1, Math.fround(Math.sqrt(96))],
  );
  assert.equal(
    normalizeConfig({
      model_type: 'gemma',
      hidden_size: 64,
      num_attention_heads: 4,
      head_dim: 16,
      hidden_activation: 'gelu',
    }).activation,
    'gelu_erf',
  );
  const xglm = normalizeConfig({
    model_type: 'xglm',
    d_model: 64,
    attention_heads: 4,
    num_layers: 2,
    ffn_dim: 256,
    max_position_embeddings: 128,
  });
  assert.deepEqual(
    [
      xglm.hiddenSize,
      xglm.numHeads,
      xglm.numLayers,
      xglm.intermediateSize,
      xglm.tieWordEmbeddings,
      xglm.activation,
      xglm.positions,
      xglm.positionOffset,
      xglm.positionPadRow,
      xglm.embedScale,
      xglm.normEps,
    ],
    [64, 4, 2, 256, true, 'gelu_erf', 'sinusoidal', 2, 1, 8, 1e-5],
  );
  assert.equal(
    normalizeConfig({ model_type: 'xglm', d_model: 64, attention_heads: 4, scale_embedding: false }).embedScale,
    1,
  );
});

test('features no engine computes are refused by name: rope_scaling types, soft-capping, Qwen2 sliding window, unknown activations', () => {
  for (const arch of ['llama', 'qwen2', 'mistral', 'gemma']) {
    refused(
      {
        model_type: arch,
        hidden_size: 64,
        num_attention_heads: 4,
        head_dim: 16,
        rope_scaling: { type: 'yarn', factor: 4 },
      },
      new RegExp(`rope_scaling is not supported for ${arch} \\(rope_scaling type "yarn"\\)`),
    );
    refused(
      {
        model_type: arch,
        hidden_size: 64,
        num_attention_heads: 4,
        head_dim: 16,
        rope_scaling: { rope_type: 'dynamic', factor: 2 },
      },
      /rope_scaling type "dynamic"/,
    );
  }
  refused(
    { model_type: 'gemma', hidden_size: 64, num_attention_heads: 4, head_dim: 16, final_logit_softcapping: 30 },
    /final_logit_softcapping=30 \(logit soft-capping\) is not supported/,
  );
  refused(
    { model_type: 'gemma', hidden_size: 64, num_attention_heads: 4, head_dim: 16, attn_logit_softcapping: 50 },
    /attn_logit_softcapping=50 \(logit soft-capping\) is not supported/,
  );
  refused({ model_type: 'gemma2', hidden_size: 64 }, /model_type "gemma2" is not supported/);
  refused(
    { model_type: 'qwen2', hidden_size: 64, num_attention_heads: 4, use_sliding_window: true },
    /use_sliding_window=true .* is not supported/,
  );
  refused(
    { model_type: 'gemma', hidden_size: 64, num_attention_heads: 4, head_dim: 16, hidden_activation: 'gelu_10' },
    /activation "gelu_10" is not supported/,
  );
  refused(
    { model_type: 'mistral', hidden_size: 64, num_attention_heads: 4, hidden_act: 'relu2' },
    /activation "relu2" is not supported/,
  );
  refused(
    { model_type: 'xglm', d_model: 64, attention_heads: 4, activation_function: 'swiglu' },
    /activation "swiglu" is not supported/,
  );
  refused(
    { model_type: 'mistral', hidden_size: 64, num_attention_heads: 4, sliding_window: 0 },
    /sliding_window must be a positive integer or null, found 0/,
  );
  refused({ model_type: 'xglm', d_model: 64, attention_heads: 5 }, /hidden size 64 is not divisible into 5 heads/);
});
