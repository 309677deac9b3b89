// GPT-2 as an ONNX body graph: learned positions, pre-LN blocks, fused c_attn with columns
// [q | k | v] (Conv1D weights stored [in, out]), tanh GELU, final ln_f.
// Reference: Radford et al. 2019; transformers' modeling_gpt2.py (v4.40).

import { activation, add, causalAttention, layerNorm, linear, w, type BodyCtx, enterBlock } from '../layers.ts';

/** x: token embeddings [T, C] → final hidden states [T, C]. */
export function gpt2Body(ctx: BodyCtx, x: string): string {
  const { b } = ctx;
  const cfg = ctx.model.config;
  const C = cfg.hiddenSize;
  const NH = cfg.numHeads;
  const HS = cfg.headDim;
  const p = 'transformer.';
  x = add(b, x, b.node('Gather', [w(ctx, `${p}wpe.weight`), ctx.pos])); // [T, C]
  for (let l = 0; l < cfg.numLayers; l++) {
    x = enterBlock(ctx, l, x);
    const pre = `${p}h.${l}.`;
    const qkv = linear(ctx, layerNorm(ctx, x, `${pre}ln_1`), `${pre}attn.c_attn`); // [T, 3C]
    const [q, k, v] = b.nodeN('Split', [qkv, b.i64([C, C, C])], 3, { axis: { i: 1 } }); // [T, C] each
    const a = causalAttention(ctx, q, k, v, { heads: NH, kvHeads: NH, headDim: HS }); // [T, C]
    x = add(b, x, linear(ctx, a, `${pre}attn.c_proj`));
    const h = activation(b, linear(ctx, layerNorm(ctx, x, `${pre}ln_2`), `${pre}mlp.c_fc`), cfg.activation); // [T, I]
    x = add(b, x, linear(ctx, h, `${pre}mlp.c_proj`));
  }
  return layerNorm(ctx, x, `${p}ln_f`);
}
