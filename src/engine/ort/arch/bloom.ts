// BLOOM as an ONNX body graph: word_embeddings_layernorm, fused QKV viewed as [T, H, 3, HS],
// ALiBi (score + slope_h · key position), residual taken after the norm when
// apply_residual_connection_post_layernorm, tanh GELU, final ln_f.
// Reference: BigScience 2022; Press et al. 2022 (ALiBi); transformers' modeling_bloom.py (v4.40).

import {
  activation,
  add,
  alibiBias,
  causalAttention,
  layerNorm,
  linear,
  mergeHeads,
  splitInterleavedQkv,
  type BodyCtx,
  enterBlock,
} from '../layers.ts';

/** x: token embeddings [T, C] → final hidden states [T, C]. */
export function bloomBody(ctx: BodyCtx, x: string): string {
  const { b } = ctx;
  const cfg = ctx.model.config;
  const NH = cfg.numHeads;
  const HS = cfg.headDim;
  const p = 'transformer.';
  const bias = alibiBias(ctx, NH); // [NH, 1, T]
  x = layerNorm(ctx, x, `${p}word_embeddings_layernorm`);
  for (let l = 0; l < cfg.numLayers; l++) {
    x = enterBlock(ctx, l, x);
    const pre = `${p}h.${l}.`;
    let h = layerNorm(ctx, x, `${pre}input_layernorm`);
    let res = cfg.residualPostNorm ? h : x;
    const [q, k, v] = splitInterleavedQkv(b, linear(ctx, h, `${pre}self_attention.query_key_value`), NH, HS); // [T, NH, HS]
    const o = causalAttention(ctx, mergeHeads(b, q), mergeHeads(b, k), mergeHeads(b, v), {
      heads: NH,
      kvHeads: NH,
      headDim: HS,
      bias,
    });
    x = add(b, res, linear(ctx, o, `${pre}self_attention.dense`));
    h = layerNorm(ctx, x, `${pre}post_attention_layernorm`);
    res = cfg.residualPostNorm ? h : x;
    x = add(
      b,
      res,
      linear(ctx, activation(b, linear(ctx, h, `${pre}mlp.dense_h_to_4h`), cfg.activation), `${pre}mlp.dense_4h_to_h`),
    );
  }
  return layerNorm(ctx, x, `${p}ln_f`);
}
