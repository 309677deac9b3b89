// Llama as an ONNX body graph: RMSNorm, rotary embedding over the whole head, grouped-query
// attention (query head j reads kv head ⌊j / (H/KV)⌋), SwiGLU MLP down(silu(gate x) ⊙ up x).
// The same graph serves the models built on Llama's block, their differences read from the config
// (src/model/config.ts llamaFamily): Qwen2's q/k/v biases (Gemm adds any bias the model holds),
// Mistral's sliding window, Gemma's embeddings × √C, RMSNorm gain 1 + w, head_dim and tanh GELU.
// Reference: Touvron et al. 2023; transformers' modeling_llama.py, modeling_qwen2.py,
// modeling_mistral.py, modeling_gemma.py (v4.40).

import {
  activation,
  add,
  applyRotary,
  causalAttention,
  linear,
  mergeHeads,
  rmsNorm,
  rotaryTables,
  scale,
  splitHeads,
  type BodyCtx,
  enterBlock,
} from '../layers.ts';

/** x: token embeddings [T, C] → final hidden states [T, C]. */
export function llamaBody(ctx: BodyCtx, x: string): string {
  const { b } = ctx;
  const cfg = ctx.model.config;
  const NH = cfg.numHeads;
  const KV = cfg.numKvHeads;
  const HS = cfg.headDim;
  const p = 'model.';
  const rot = rotaryTables(ctx, cfg.rotaryDims, cfg.rotaryBase);
  if (cfg.embedScale !== 1) x = scale(b, x, cfg.embedScale); // Gemma: √C in float32
  for (let l = 0; l < cfg.numLayers; l++) {
    x = enterBlock(ctx, l, x);
    const pre = `${p}layers.${l}.`;
    const h = rmsNorm(ctx, x, `${pre}input_layernorm`);
    const q = applyRotary(b, splitHeads(b, linear(ctx, h, `${pre}self_attn.q_proj`), NH, HS), rot, HS); // [T, NH, HS]
    const k = applyRotary(b, splitHeads(b, linear(ctx, h, `${pre}self_attn.k_proj`), KV, HS), rot, HS); // [T, KV, HS]
    const v = linear(ctx, h, `${pre}self_attn.v_proj`); // [T, KV·HS]
    const o = causalAttention(ctx, mergeHeads(b, q), mergeHeads(b, k), v, {
      heads: NH,
      kvHeads: KV,
      headDim: HS,
      window: cfg.slidingWindow,
    });
    x = add(b, x, linear(ctx, o, `${pre}self_attn.o_proj`));
    const m = rmsNorm(ctx, x, `${pre}post_attention_layernorm`);
    const gate = activation(b, linear(ctx, m, `${pre}mlp.gate_proj`), cfg.activation);
    const up = linear(ctx, m, `${pre}mlp.up_proj`);
    x = add(b, x, linear(ctx, b.node('Mul', [gate, up]), `${pre}mlp.down_proj`));
  }
  return rmsNorm(ctx, x, `${p}norm`);
}
