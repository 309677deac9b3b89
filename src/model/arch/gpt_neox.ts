// GPT-NeoX / Pythia (Black et al. 2022; Biderman et al. 2023) as transformers' GPTNeoXForCausalLM.
// nn.Linear weights [out, in]. The fused query_key_value output is interleaved per head: viewed
// [T, NH, 3·HS], head h holds [q_h | k_h | v_h]. Rotary (rotate-half) on the first
// int(HS·rotary_pct) dims of each head; scale 1/√HS over the whole head.
// Parallel residual:   x = x + attn(LN1(x)) + mlp(LN2(x)).
// Sequential residual: a = x + attn(LN1(x)); x = a + mlp(LN2(a)).
// MLP dense_4h_to_h(act(dense_h_to_4h(x))), act = exact GELU by default; final_layer_norm; untied embed_out.

import type { Model } from '../model.ts';
import type { ForwardHooks } from '../forward.ts';
import type { Arch } from './common.ts';
import { act, addInPlace, attend, gatherRows, linear, norm, rotate, splitPerHeadQkv, w } from './common.ts';

const P = 'gpt_neox.';

function mlp(model: Model, b: string, h: Float32Array, T: number, hooks?: ForwardHooks): Float32Array {
  const { hiddenSize: C, intermediateSize: I, mlpBias } = model.config;
  const f = linear(model, `${b}mlp.dense_h_to_4h`, h, T, C, I, 'out_in', mlpBias, hooks); // [T, I]
  act(model, f, T * I);
  return linear(model, `${b}mlp.dense_4h_to_h`, f, T, I, C, 'out_in', mlpBias, hooks); // [T, C]
}

export const gptNeox: Arch = {
  embed(model, ids) {
    return gatherRows(w(model, `${P}embed_in.weight`), ids, model.config.hiddenSize); // [T, C]
  },

  block(model, layer, xIn, T, hooks) {
    const { hiddenSize: C, numHeads: NH, headDim: HS, attentionBias, parallelResidual } = model.config;
    const b = `${P}layers.${layer}.`;
    const x = xIn.slice(0, T * C); // [T, C] residual stream
    const h = norm(model, `${b}input_layernorm`, x, T, C);
    const qkv = linear(model, `${b}attention.query_key_value`, h, T, C, 3 * C, 'out_in', attentionBias, hooks); // [T, NH, 3·HS]
    const { q, k, v } = splitPerHeadQkv(qkv, T, NH, HS);
    rotate(model, q, k, T);
    const a = attend(model, q, k, v, T, 1 / Math.sqrt(HS)); // [T, C]
    const attnOut = linear(model, `${b}attention.dense`, a, T, C, C, 'out_in', attentionBias, hooks);
    if (parallelResidual) {
      // both branches read the block's input; transformers sums mlp + attn, then adds the residual
      const m = mlp(model, b, norm(model, `${b}post_attention_layernorm`, x, T, C), T, hooks);
      for (let i = 0; i < T * C; i++) x[i] += m[i] + attnOut[i];
    } else {
      addInPlace(x, attnOut, T * C);
      addInPlace(x, mlp(model, b, norm(model, `${b}post_attention_layernorm`, x, T, C), T, hooks), T * C);
    }
    return x;
  },

  head(model, x, T) {
    const { hiddenSize: C, vocabSize: V } = model.config;
    const h = norm(model, `${P}final_layer_norm`, x, T, C);
    return linear(model, 'embed_out', h, T, C, V, 'out_in', false); // [T, V]
  },
};
