// GPT-2 (Radford et al. 2019) as transformers' GPT2LMHeadModel: learned positions, pre-LN blocks,
// Conv1D weights stored [in, out] (y = x·W + b, no transpose), fused c_attn with columns [q | k | v],
// attention scale 1/√HS, MLP c_proj(act(c_fc(x))) with act = gelu_new by default, final ln_f, and
// lm_head [V, C] (tied to wte unless the file holds its own).

import type { Arch } from './common.ts';
import { act, addInPlace, attend, gatherRows, linear, norm, splitBlockQkv, w } from './common.ts';

const P = 'transformer.';

export const gpt2: Arch = {
  embed(model, ids) {
    const C = model.config.hiddenSize;
    const x = gatherRows(w(model, `${P}wte.weight`), ids, C); // [T, C]
    const wpe = w(model, `${P}wpe.weight`); // [maxPositions, C]
    addInPlace(x, wpe, ids.length * C); // row t of x gets position row t
    return x;
  },

  block(model, layer, xIn, T, hooks) {
    const { hiddenSize: C, intermediateSize: I, headDim: HS } = model.config;
    const b = `${P}h.${layer}.`;
    const x = xIn.slice(0, T * C); // [T, C] residual stream
    const h = norm(model, `${b}ln_1`, x, T, C);
    const qkv = linear(model, `${b}attn.c_attn`, h, T, C, 3 * C, 'in_out', true, hooks); // [T, 3C]
    const { q, k, v } = splitBlockQkv(qkv, T, C);
    const a = attend(model, q, k, v, T, 1 / Math.sqrt(HS)); // [T, C]
    addInPlace(x, linear(model, `${b}attn.c_proj`, a, T, C, C, 'in_out', true, hooks), T * C);
    const h2 = norm(model, `${b}ln_2`, x, T, C);
    const f = linear(model, `${b}mlp.c_fc`, h2, T, C, I, 'in_out', true, hooks); // [T, I]
    act(model, f, T * I);
    addInPlace(x, linear(model, `${b}mlp.c_proj`, f, T, I, C, 'in_out', true, hooks), T * C);
    return x;
  },

  head(model, x, T) {
    const { hiddenSize: C, vocabSize: V } = model.config;
    const h = norm(model, `${P}ln_f`, x, T, C);
    return linear(model, 'lm_head', h, T, C, V, 'out_in', false); // [T, V]
  },
};
