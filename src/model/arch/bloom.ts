// BLOOM (BigScience 2022) as transformers' BloomForCausalLM. nn.Linear weights [out, in].
// Token embeddings go through word_embeddings_layernorm; no position table: ALiBi adds
// slope_h · j to the score of key position j (slopes for any head count, src/kernels/alibi.ts).
// Fused query_key_value viewed [T, NH, 3, HS]; scores (q·kᵀ)/√HS + alibi.
// Block: ln = LN_in(x); r = post-LN residual ? ln : x; a = dense(attn(ln)) + r;
//        ln2 = LN_post(a); r2 = post-LN residual ? ln2 : a; x = mlp(ln2) + r2.
// MLP dense_4h_to_h(gelu_tanh(dense_h_to_4h(x))); final ln_f; lm_head tied to word_embeddings.

import type { Arch } from './common.ts';
import { act, addInPlace, attend, gatherRows, linear, norm, splitPerHeadQkv, w } from './common.ts';

const P = 'transformer.';

export const bloom: Arch = {
  embed(model, ids) {
    const C = model.config.hiddenSize;
    const e = gatherRows(w(model, `${P}word_embeddings.weight`), ids, C); // [T, C]
    return norm(model, `${P}word_embeddings_layernorm`, e, ids.length, C);
  },

  block(model, layer, x, T, hooks) {
    const { hiddenSize: C, intermediateSize: I, numHeads: NH, headDim: HS, residualPostNorm } = model.config;
    const b = `${P}h.${layer}.`;
    const ln = norm(model, `${b}input_layernorm`, x, T, C);
    const qkv = linear(model, `${b}self_attention.query_key_value`, ln, T, C, 3 * C, 'out_in', true, hooks); // [T, NH, 3, HS]
    const { q, k, v } = splitPerHeadQkv(qkv, T, NH, HS);
    const ctx = attend(model, q, k, v, T, 1 / Math.sqrt(HS), true); // [T, C]
    const a = linear(model, `${b}self_attention.dense`, ctx, T, C, C, 'out_in', true, hooks); // [T, C]
    addInPlace(a, residualPostNorm ? ln : x, T * C);
    const ln2 = norm(model, `${b}post_attention_layernorm`, a, T, C);
    const f = linear(model, `${b}mlp.dense_h_to_4h`, ln2, T, C, I, 'out_in', true, hooks); // [T, I]
    act(model, f, T * I);
    const out = linear(model, `${b}mlp.dense_4h_to_h`, f, T, I, C, 'out_in', true, hooks); // [T, C]
    addInPlace(out, residualPostNorm ? ln2 : a, T * C);
    return out;
  },

  head(model, x, T) {
    const { hiddenSize: C, vocabSize: V } = model.config;
    const h = norm(model, `${P}ln_f`, x, T, C);
    return linear(model, 'lm_head', h, T, C, V, 'out_in', false); // [T, V]
  },
};
