// XGLM as an ONNX body graph: embeddings × √d_model, plus the sinusoid (not stored in the file) read
// at row pos + 2, pre-LN blocks with biased q/k/v/out projections (the query's HS^−0.5 is applied in
// the attention), erf GELU MLP fc2(gelu(fc1 x)), final model.layer_norm.
// The sinusoid table is the reference engine's own (model/arch/xglm.ts addSinusoid), built once for
// every position the model accepts and kept as a constant of the graph, so both engines read the
// same float32 values, the zero padding row included.
// Reference: Lin et al. 2022; transformers' modeling_xglm.py (v4.40).

import { addSinusoid } from '../../../model/arch/xglm.ts';
import { DataType } from '../proto.ts';
import { activation, add, causalAttention, layerNorm, linear, scale, type BodyCtx, enterBlock } from '../layers.ts';

/** x: token embeddings [T, C] → final hidden states [T, C]. */
export function xglmBody(ctx: BodyCtx, x: string): string {
  const { b } = ctx;
  const cfg = ctx.model.config;
  const C = cfg.hiddenSize;
  const NH = cfg.numHeads;
  const HS = cfg.headDim;
  const p = 'model.';
  if (cfg.embedScale !== 1) x = scale(b, x, cfg.embedScale);
  const rows = cfg.maxPositions! + cfg.positionOffset;
  const table = new Float32Array(rows * C); // [maxPositions + 2, C]
  addSinusoid(table, rows, C, 0, cfg.positionPadRow);
  const at = add(b, ctx.pos, b.constant([cfg.positionOffset], [], DataType.INT64, 'pos_offset')); // [T]
  x = add(b, x, b.node('Gather', [b.constant(table, [rows, C], DataType.FLOAT, 'sinusoid'), at]));
  for (let l = 0; l < cfg.numLayers; l++) {
    x = enterBlock(ctx, l, x);
    const pre = `${p}layers.${l}.`;
    const h = layerNorm(ctx, x, `${pre}self_attn_layer_norm`);
    const q = linear(ctx, h, `${pre}self_attn.q_proj`); // [T, C]
    const k = linear(ctx, h, `${pre}self_attn.k_proj`);
    const v = linear(ctx, h, `${pre}self_attn.v_proj`);
    x = add(
      b,
      x,
      linear(ctx, causalAttention(ctx, q, k, v, { heads: NH, kvHeads: NH, headDim: HS }), `${pre}self_attn.out_proj`),
    );
    const m = layerNorm(ctx, x, `${pre}final_layer_norm`);
    x = add(b, x, linear(ctx, activation(b, linear(ctx, m, `${pre}fc1`), cfg.activation), `${pre}fc2`));
  }
  return layerNorm(ctx, x, `${p}layer_norm`);
}
