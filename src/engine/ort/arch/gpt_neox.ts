// GPT-NeoX (Pythia) as an ONNX body graph: fused query_key_value interleaved per head, rotary
// embedding on the first rotaryDims of each head (rotate-half), parallel or sequential residual,
// exact-erf GELU, final_layer_norm.
// Reference: Black et al. 2022; transformers' modeling_gpt_neox.py (v4.40).

import {
  activation,
  add,
  applyRotary,
  causalAttention,
  layerNorm,
  linear,
  mergeHeads,
  rotaryTables,
  splitInterleavedQkv,
  type BodyCtx,
  enterBlock,
} from '../layers.ts';

/** x: token embeddings [T, C] → final hidden states [T, C]. */
export function gptNeoxBody(ctx: BodyCtx, x: string): string {
  const { b } = ctx;
  const cfg = ctx.model.config;
  const NH = cfg.numHeads;
  const HS = cfg.headDim;
  const p = 'gpt_neox.';
  const rot = cfg.rotaryDims > 0 ? rotaryTables(ctx, cfg.rotaryDims, cfg.rotaryBase) : undefined;
  for (let l = 0; l < cfg.numLayers; l++) {
    x = enterBlock(ctx, l, x);
    const pre = `${p}layers.${l}.`;
    const qkv = linear(ctx, layerNorm(ctx, x, `${pre}input_layernorm`), `${pre}attention.query_key_value`); // [T, 3C]
    let [q, k, v] = splitInterleavedQkv(b, qkv, NH, HS); // [T, NH, HS]
    if (rot) {
      q = applyRotary(b, q, rot, HS);
      k = applyRotary(b, k, rot, HS);
    }
    const o = causalAttention(ctx, mergeHeads(b, q), mergeHeads(b, k), mergeHeads(b, v), {
      heads: NH,
      kvHeads: NH,
      headDim: HS,
    });
    const a = linear(ctx, o, `${pre}attention.dense`);
    const mlp = (h: string) =>
      linear(ctx, activation(b, linear(ctx, h, `${pre}mlp.dense_h_to_4h`), cfg.activation), `${pre}mlp.dense_4h_to_h`);
    if (cfg.parallelResidual) {
      // x + attn(LN1 x) + mlp(LN2 x)
      x = add(b, x, add(b, a, mlp(layerNorm(ctx, x, `${pre}post_attention_layernorm`))));
    } else {
      const y = add(b, x, a);
      x = add(b, y, mlp(layerNorm(ctx, y, `${pre}post_attention_layernorm`)));
    }
  }
  return layerNorm(ctx, x, `${p}final_layer_norm`);
}
