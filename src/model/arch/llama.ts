// Llama (Touvron et al. 2023) as transformers' LlamaForCausalLM. nn.Linear weights [out, in], no
// biases by default. RMSNorm; rotary (rotate-half) over the whole head with base rope_theta;
// grouped-query attention (query head j reads kv head floor(j / (NH/NKV))), scale 1/√HS;
// SwiGLU MLP down(silu(gate(x)) ⊙ up(x)); final norm; lm_head tied or untied.
// The same block, with the differences carried by the config (config.ts llamaFamily), is:
// - Qwen2 (Qwen2ForCausalLM; Yang et al. 2024): biases on q, k and v (added before RoPE), none on o;
// - Mistral (MistralForCausalLM; Jiang et al. 2023): sliding-window attention, query i reading keys
//   i − W..i (W + 1 keys, transformers v4.40; kernels/attention.ts);
// - Gemma (GemmaForCausalLM; Gemma Team 2024): embeddings × √C in float32 (the tied output matrix
//   stays unscaled), RMSNorm gain 1 + w, head_dim from the config (q is NH·head_dim wide), gated
//   tanh GELU down(gelu_tanh(gate(x)) ⊙ up(x)).

import type { Arch } from './common.ts';
import { act, addInPlace, attend, gatherRows, linear, norm, rotate, w } from './common.ts';

const P = 'model.';

export const llama: Arch = {
  embed(model, ids) {
    const { hiddenSize: C, embedScale } = model.config;
    const x = gatherRows(w(model, `${P}embed_tokens.weight`), ids, C); // [T, C]
    if (embedScale !== 1) for (let i = 0; i < x.length; i++) x[i] *= embedScale; // Gemma: √C (float32)
    return x;
  },

  block(model, layer, xIn, T, hooks) {
    const {
      hiddenSize: C,
      intermediateSize: I,
      numHeads: NH,
      numKvHeads: NKV,
      headDim: HS,
      attentionBias,
      attentionOutBias,
      mlpBias,
    } = model.config;
    const b = `${P}layers.${layer}.`;
    const x = xIn.slice(0, T * C); // [T, C] residual stream
    const h = norm(model, `${b}input_layernorm`, x, T, C);
    const q = linear(model, `${b}self_attn.q_proj`, h, T, C, NH * HS, 'out_in', attentionBias, hooks); // [T, NH·HS]
    const k = linear(model, `${b}self_attn.k_proj`, h, T, C, NKV * HS, 'out_in', attentionBias, hooks); // [T, NKV·HS]
    const v = linear(model, `${b}self_attn.v_proj`, h, T, C, NKV * HS, 'out_in', attentionBias, hooks); // [T, NKV·HS]
    rotate(model, q, k, T);
    const a = attend(model, q, k, v, T, 1 / Math.sqrt(HS)); // [T, NH·HS], within the sliding window if any
    addInPlace(x, linear(model, `${b}self_attn.o_proj`, a, T, NH * HS, C, 'out_in', attentionOutBias, hooks), T * C);
    const h2 = norm(model, `${b}post_attention_layernorm`, x, T, C);
    const gate = linear(model, `${b}mlp.gate_proj`, h2, T, C, I, 'out_in', mlpBias, hooks); // [T, I]
    const up = linear(model, `${b}mlp.up_proj`, h2, T, C, I, 'out_in', mlpBias, hooks); // [T, I]
    act(model, gate, T * I); // silu (Llama, Qwen2, Mistral) or tanh GELU (Gemma)
    for (let i = 0; i < T * I; i++) gate[i] *= up[i];
    addInPlace(x, linear(model, `${b}mlp.down_proj`, gate, T, I, C, 'out_in', mlpBias, hooks), T * C);
    return x;
  },

  head(model, x, T) {
    const { hiddenSize: C, vocabSize: V } = model.config;
    const h = norm(model, `${P}norm`, x, T, C);
    return linear(model, 'lm_head', h, T, C, V, 'out_in', false); // [T, V]
  },
};
