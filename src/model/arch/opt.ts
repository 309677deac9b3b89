// OPT (Zhang et al. 2022) as transformers' OPTForCausalLM. nn.Linear weights [out, in].
// Positions: learned table read at row pos + 2. With word_embed_proj_dim P ≠ C (OPT-350m),
// project_in [C, P] maps token embeddings to C before the positions are added, and project_out
// [P, C] maps back before the output matrix [V, P].
// The query is scaled by HS^−0.5 after its projection (bias included), before QKᵀ.
// Pre-LN (OPT-125m):  x += attn(LN_sa(x)); x += fc2(act(fc1(LN_ff(x)))); decoder final_layer_norm.
// Post-LN (OPT-350m): x = LN_sa(x + attn(x)); x = LN_ff(x + fc2(act(fc1(x)))); no decoder norm.
// The per-layer FFN norm is named layers.N.final_layer_norm.

import type { Arch } from './common.ts';
import { act, addInPlace, attend, gatherRows, linear, norm, sum, w } from './common.ts';

const P = 'model.decoder.';

export const opt: Arch = {
  embed(model, ids) {
    const { hiddenSize: C, embedDim: E, positionOffset } = model.config;
    const T = ids.length;
    let x = gatherRows(w(model, `${P}embed_tokens.weight`), ids, E); // [T, E]
    if (E !== C) x = linear(model, `${P}project_in`, x, T, E, C, 'out_in', false); // [T, C]
    const pos = w(model, `${P}embed_positions.weight`); // [maxPositions + 2, C]
    addInPlace(x, pos.subarray(positionOffset * C), T * C);
    return x;
  },

  block(model, layer, xIn, T, hooks) {
    const { hiddenSize: C, intermediateSize: I, headDim: HS, preNorm, attentionBias, mlpBias } = model.config;
    const b = `${P}layers.${layer}.`;
    let x: Float32Array = xIn.subarray(0, T * C); // [T, C] residual stream (never written in place)

    // attention
    const h = preNorm ? norm(model, `${b}self_attn_layer_norm`, x, T, C) : x;
    const q = linear(model, `${b}self_attn.q_proj`, h, T, C, C, 'out_in', attentionBias, hooks); // [T, C]
    const scaling = Math.fround(HS ** -0.5);
    for (let i = 0; i < T * C; i++) q[i] *= scaling;
    const k = linear(model, `${b}self_attn.k_proj`, h, T, C, C, 'out_in', attentionBias, hooks);
    const v = linear(model, `${b}self_attn.v_proj`, h, T, C, C, 'out_in', attentionBias, hooks);
    const a = attend(model, q, k, v, T, 1);
    // a new array: in post-LN the old x was the projections' input, which hooks may still hold
    x = sum(x, linear(model, `${b}self_attn.out_proj`, a, T, C, C, 'out_in', attentionBias, hooks), T * C);
    if (!preNorm) x = norm(model, `${b}self_attn_layer_norm`, x, T, C);

    // MLP
    const h2 = preNorm ? norm(model, `${b}final_layer_norm`, x, T, C) : x;
    const f = linear(model, `${b}fc1`, h2, T, C, I, 'out_in', mlpBias, hooks); // [T, I]
    act(model, f, T * I);
    x = sum(x, linear(model, `${b}fc2`, f, T, I, C, 'out_in', mlpBias, hooks), T * C);
    if (!preNorm) x = norm(model, `${b}final_layer_norm`, x, T, C);
    return x;
  },

  head(model, xIn, T) {
    const { hiddenSize: C, embedDim: E, vocabSize: V, finalNorm } = model.config;
    let x = finalNorm ? norm(model, `${P}final_layer_norm`, xIn, T, C) : xIn;
    if (E !== C) x = linear(model, `${P}project_out`, x, T, C, E, 'out_in', false); // [T, E]
    return linear(model, 'lm_head', x, T, E, V, 'out_in', false); // [T, V]
  },
};
