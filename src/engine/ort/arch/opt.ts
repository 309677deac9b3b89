// OPT as an ONNX body graph: learned positions read at row pos + 2, optional project_in/out
// (word_embed_proj_dim ≠ hidden), pre-LN (OPT-125m style) or post-LN (OPT-350m style) blocks,
// the query scaled by head_dim^−0.5 after its bias, ReLU MLP.
// Reference: Zhang et al. 2022; transformers' modeling_opt.py (v4.40).

import { DataType } from '../proto.ts';
import { activation, add, causalAttention, layerNorm, linear, w, type BodyCtx, enterBlock } from '../layers.ts';

/** x: token embeddings [T, P] → hidden states before the output matrix [T, P]. */
export function optBody(ctx: BodyCtx, x: string): string {
  const { b } = ctx;
  const cfg = ctx.model.config;
  const NH = cfg.numHeads;
  const HS = cfg.headDim;
  const p = 'model.decoder.';
  const projected = cfg.embedDim !== cfg.hiddenSize;
  if (projected) x = linear(ctx, x, `${p}project_in`); // [T, C]
  const rows = add(b, ctx.pos, b.constant([cfg.positionOffset], [], DataType.INT64, 'pos_offset'));
  x = add(b, x, b.node('Gather', [w(ctx, `${p}embed_positions.weight`), rows]));
  const attn = (h: string, pre: string) => {
    const q = linear(ctx, h, `${pre}self_attn.q_proj`); // [T, C]; the head_dim^−0.5 is applied in the attention
    const k = linear(ctx, h, `${pre}self_attn.k_proj`);
    const v = linear(ctx, h, `${pre}self_attn.v_proj`);
    return linear(
      ctx,
      causalAttention(ctx, q, k, v, { heads: NH, kvHeads: NH, headDim: HS }),
      `${pre}self_attn.out_proj`,
    );
  };
  const mlp = (h: string, pre: string) =>
    linear(ctx, activation(b, linear(ctx, h, `${pre}fc1`), cfg.activation), `${pre}fc2`);
  for (let l = 0; l < cfg.numLayers; l++) {
    x = enterBlock(ctx, l, x);
    const pre = `${p}layers.${l}.`;
    if (cfg.preNorm) {
      x = add(b, x, attn(layerNorm(ctx, x, `${pre}self_attn_layer_norm`), pre));
      x = add(b, x, mlp(layerNorm(ctx, x, `${pre}final_layer_norm`), pre));
    } else {
      x = layerNorm(ctx, add(b, x, attn(x, pre)), `${pre}self_attn_layer_norm`);
      x = layerNorm(ctx, add(b, x, mlp(x, pre)), `${pre}final_layer_norm`);
    }
  }
  if (cfg.finalNorm) x = layerNorm(ctx, x, `${p}final_layer_norm`);
  if (projected) x = linear(ctx, x, `${p}project_out`); // [T, P]
  return x;
}
