// XGLM (Lin et al. 2022, "Few-shot Learning with Multilingual Language Models") as transformers'
// XGLMForCausalLM (v4.40). nn.Linear weights [out, in], every linear biased.
// Inputs: embed_tokens[ids] · √d_model (rounded to float32; scale_embedding) plus a sinusoid that
// is computed, not stored: with half = C/2 and f_k = exp(−k·ln(10000)/(half − 1)), row r is
// [sin(r·f_0..f_{half−1}) | cos(r·f_0..f_{half−1})] (two halves, not interleaved), token position p
// reads row p + 2, and row pad_token_id is all zeros (as fairseq's padding_idx).
// Pre-LN block: x += out_proj(attn(LN_sa(x))) with the query scaled by HS^−0.5 before QKᵀ (bias
// included); x += fc2(gelu(fc1(LN_ff(x)))); then the final model.layer_norm and the tied lm_head.
// The per-layer FFN norm is named layers.N.final_layer_norm.

import type { ModelConfig } from '../config.ts';
import type { Arch } from './common.ts';
import { act, addInPlace, attend, gatherRows, linear, norm, w } from './common.ts';

const P = 'model.';

/**
 * out[T, C] += rows offset..offset+T−1 of the sinusoid table, in float32 as transformers builds it
 * (f_k, r·f_k, sin and cos each rounded to float32; within ~1e-6 of torch's own float32 sin/cos).
 */
export function addSinusoid(out: Float32Array, T: number, C: number, offset: number, padRow: number | null): void {
  const half = C >> 1;
  const step = Math.fround(Math.log(10000) / (half - 1));
  for (let t = 0; t < T; t++) {
    const r = t + offset;
    if (r === padRow) continue; // the padding row is zeros
    const o = t * C;
    for (let k = 0; k < half; k++) {
      const angle = Math.fround(r * Math.fround(Math.exp(Math.fround(k * -step))));
      out[o + k] += Math.fround(Math.sin(angle));
      out[o + half + k] += Math.fround(Math.cos(angle));
    }
    // an odd width leaves the last column zero (transformers pads it)
  }
}

function scaleEmbedding(cfg: ModelConfig, x: Float32Array): void {
  if (cfg.embedScale !== 1) for (let i = 0; i < x.length; i++) x[i] = Math.fround(x[i] * cfg.embedScale);
}

export const xglm: Arch = {
  embed(model, ids) {
    const cfg = model.config;
    const C = cfg.hiddenSize;
    const x = gatherRows(w(model, `${P}embed_tokens.weight`), ids, C); // [T, C]
    scaleEmbedding(cfg, x);
    addSinusoid(x, ids.length, C, cfg.positionOffset, cfg.positionPadRow);
    return x;
  },

  block(model, layer, xIn, T, hooks) {
    const { hiddenSize: C, intermediateSize: I, headDim: HS } = model.config;
    const b = `${P}layers.${layer}.`;
    const x = xIn.slice(0, T * C); // [T, C] residual stream
    const h = norm(model, `${b}self_attn_layer_norm`, x, T, C);
    const q = linear(model, `${b}self_attn.q_proj`, h, T, C, C, 'out_in', true, hooks); // [T, C]
    const scaling = Math.fround(HS ** -0.5);
    for (let i = 0; i < T * C; i++) q[i] *= scaling;
    const k = linear(model, `${b}self_attn.k_proj`, h, T, C, C, 'out_in', true, hooks);
    const v = linear(model, `${b}self_attn.v_proj`, h, T, C, C, 'out_in', true, hooks);
    const a = attend(model, q, k, v, T, 1); // [T, C]
    addInPlace(x, linear(model, `${b}self_attn.out_proj`, a, T, C, C, 'out_in', true, hooks), T * C);
    const h2 = norm(model, `${b}final_layer_norm`, x, T, C);
    const f = linear(model, `${b}fc1`, h2, T, C, I, 'out_in', true, hooks); // [T, I]
    act(model, f, T * I);
    addInPlace(x, linear(model, `${b}fc2`, f, T, I, C, 'out_in', true, hooks), T * C);
    return x;
  },

  head(model, x, T) {
    const { hiddenSize: C, vocabSize: V } = model.config;
    const h = norm(model, `${P}layer_norm`, x, T, C);
    return linear(model, 'lm_head', h, T, C, V, 'out_in', false); // [T, V]
  },
};
