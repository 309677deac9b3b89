// The tensors each architecture needs, named verbatim as in the Hugging Face checkpoint (with the
// class prefix: `transformer.`, `model.decoder.`, `gpt_neox.`, `model.`), with the shape the config
// implies and, for every linear weight, its role and storage layout. The loader checks a checkpoint
// against this list; the quantiser picks its targets from it; the engines read weights by these names.

import type { ModelConfig } from './config.ts';

/** Role of a linear weight inside a block (the quantiser's selection by module). */
export type LinearRole = 'attn_qkv' | 'attn_out' | 'mlp_in' | 'mlp_out';
export const LINEAR_ROLES: readonly LinearRole[] = ['attn_qkv', 'attn_out', 'mlp_in', 'mlp_out'];

/**
 * Storage layout of a 2-D weight. `in_out`: GPT-2 Conv1D, stored [in, out], y = x·W + b.
 * `out_in`: nn.Linear, stored [out, in], y = x·Wᵀ + b. The input dimension is axis 0 of the first,
 * axis 1 of the second.
 */
export type Layout = 'in_out' | 'out_in';

export type TensorKind = 'linear' | 'bias' | 'norm' | 'embedding' | 'position' | 'output' | 'projection';

export interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly kind: TensorKind;
  /** Block index for tensors inside a block. */
  readonly layer?: number;
  /** For kind 'linear'. */
  readonly role?: LinearRole;
  /** For 2-D matrices used in a matmul (linear, output, projection). */
  readonly layout?: Layout;
  /** Taken from another tensor when absent from the file (a tied output matrix). */
  readonly tiedTo?: string;
}

/** The prefix of the base model's names in the full causal-LM checkpoint. */
export function basePrefix(cfg: ModelConfig): string {
  switch (cfg.arch) {
    case 'gpt2':
    case 'bloom':
      return 'transformer.';
    case 'opt':
      return 'model.decoder.';
    case 'gpt_neox':
      return 'gpt_neox.';
    case 'llama':
    case 'qwen2':
    case 'mistral':
    case 'gemma':
    case 'xglm':
      return 'model.';
  }
}

/** Checkpoint buffers that carry no weights and are ignored when present. */
export const STALE_BUFFER_SUFFIXES = [
  '.attn.bias',
  '.attn.masked_bias',
  'rotary_emb.inv_freq',
  '.attention.bias',
  '.attention.masked_bias',
  // XGLM's sinusoid, saved by older transformers and fairseq conversions; it is recomputed
  'embed_positions.weights',
  'embed_positions._float_tensor',
];

export function isStaleBuffer(name: string): boolean {
  return STALE_BUFFER_SUFFIXES.some((s) => name.endsWith(s));
}

export function weightSpec(cfg: ModelConfig): TensorSpec[] {
  const C = cfg.hiddenSize;
  const V = cfg.vocabSize;
  const I = cfg.intermediateSize;
  const HS = cfg.headDim;
  const out: TensorSpec[] = [];
  const norm = (name: string, width: number, layer?: number, bias = cfg.norm === 'layernorm') => {
    out.push({ name: `${name}.weight`, shape: [width], kind: 'norm', layer });
    if (bias) out.push({ name: `${name}.bias`, shape: [width], kind: 'norm', layer });
  };
  const linear = (
    name: string,
    inDim: number,
    outDim: number,
    layer: number,
    role: LinearRole,
    layout: Layout,
    bias: boolean,
  ) => {
    out.push({
      name: `${name}.weight`,
      shape: layout === 'in_out' ? [inDim, outDim] : [outDim, inDim],
      kind: 'linear',
      layer,
      role,
      layout,
    });
    if (bias) out.push({ name: `${name}.bias`, shape: [outDim], kind: 'bias', layer });
  };
  const output = (name: string, width: number, tiedTo: string) => {
    out.push({
      name,
      shape: [V, width],
      kind: 'output',
      layout: 'out_in',
      tiedTo: cfg.tieWordEmbeddings ? tiedTo : undefined,
    });
  };

  switch (cfg.arch) {
    case 'gpt2': {
      const p = 'transformer.';
      out.push({ name: `${p}wte.weight`, shape: [V, C], kind: 'embedding' });
      out.push({ name: `${p}wpe.weight`, shape: [cfg.maxPositions!, C], kind: 'position' });
      for (let l = 0; l < cfg.numLayers; l++) {
        const b = `${p}h.${l}.`;
        norm(`${b}ln_1`, C, l);
        linear(`${b}attn.c_attn`, C, 3 * C, l, 'attn_qkv', 'in_out', true);
        linear(`${b}attn.c_proj`, C, C, l, 'attn_out', 'in_out', true);
        norm(`${b}ln_2`, C, l);
        linear(`${b}mlp.c_fc`, C, I, l, 'mlp_in', 'in_out', true);
        linear(`${b}mlp.c_proj`, I, C, l, 'mlp_out', 'in_out', true);
      }
      norm(`${p}ln_f`, C);
      output('lm_head.weight', C, `${p}wte.weight`);
      break;
    }
    case 'opt': {
      const p = 'model.decoder.';
      const P = cfg.embedDim;
      out.push({ name: `${p}embed_tokens.weight`, shape: [V, P], kind: 'embedding' });
      out.push({
        name: `${p}embed_positions.weight`,
        shape: [cfg.maxPositions! + cfg.positionOffset, C],
        kind: 'position',
      });
      if (P !== C) {
        out.push({ name: `${p}project_in.weight`, shape: [C, P], kind: 'projection', layout: 'out_in' });
        out.push({ name: `${p}project_out.weight`, shape: [P, C], kind: 'projection', layout: 'out_in' });
      }
      for (let l = 0; l < cfg.numLayers; l++) {
        const b = `${p}layers.${l}.`;
        for (const x of ['q', 'k', 'v'])
          linear(`${b}self_attn.${x}_proj`, C, C, l, 'attn_qkv', 'out_in', cfg.attentionBias);
        linear(`${b}self_attn.out_proj`, C, C, l, 'attn_out', 'out_in', cfg.attentionBias);
        norm(`${b}self_attn_layer_norm`, C, l);
        linear(`${b}fc1`, C, I, l, 'mlp_in', 'out_in', cfg.mlpBias);
        linear(`${b}fc2`, I, C, l, 'mlp_out', 'out_in', cfg.mlpBias);
        norm(`${b}final_layer_norm`, C, l);
      }
      if (cfg.finalNorm) norm(`${p}final_layer_norm`, C);
      output('lm_head.weight', P, `${p}embed_tokens.weight`);
      break;
    }
    case 'gpt_neox': {
      const p = 'gpt_neox.';
      out.push({ name: `${p}embed_in.weight`, shape: [V, C], kind: 'embedding' });
      for (let l = 0; l < cfg.numLayers; l++) {
        const b = `${p}layers.${l}.`;
        norm(`${b}input_layernorm`, C, l);
        norm(`${b}post_attention_layernorm`, C, l);
        linear(`${b}attention.query_key_value`, C, 3 * C, l, 'attn_qkv', 'out_in', cfg.attentionBias);
        linear(`${b}attention.dense`, C, C, l, 'attn_out', 'out_in', cfg.attentionBias);
        linear(`${b}mlp.dense_h_to_4h`, C, I, l, 'mlp_in', 'out_in', cfg.mlpBias);
        linear(`${b}mlp.dense_4h_to_h`, I, C, l, 'mlp_out', 'out_in', cfg.mlpBias);
      }
      norm(`${p}final_layer_norm`, C);
      output('embed_out.weight', C, `${p}embed_in.weight`);
      break;
    }
    case 'llama':
    case 'qwen2':
    case 'mistral':
    case 'gemma': {
      const p = 'model.';
      const KV = cfg.numKvHeads * HS;
      out.push({ name: `${p}embed_tokens.weight`, shape: [V, C], kind: 'embedding' });
      for (let l = 0; l < cfg.numLayers; l++) {
        const b = `${p}layers.${l}.`;
        norm(`${b}input_layernorm`, C, l);
        linear(`${b}self_attn.q_proj`, C, cfg.numHeads * HS, l, 'attn_qkv', 'out_in', cfg.attentionBias);
        linear(`${b}self_attn.k_proj`, C, KV, l, 'attn_qkv', 'out_in', cfg.attentionBias);
        linear(`${b}self_attn.v_proj`, C, KV, l, 'attn_qkv', 'out_in', cfg.attentionBias);
        linear(`${b}self_attn.o_proj`, cfg.numHeads * HS, C, l, 'attn_out', 'out_in', cfg.attentionOutBias);
        norm(`${b}post_attention_layernorm`, C, l);
        linear(`${b}mlp.gate_proj`, C, I, l, 'mlp_in', 'out_in', cfg.mlpBias);
        linear(`${b}mlp.up_proj`, C, I, l, 'mlp_in', 'out_in', cfg.mlpBias);
        linear(`${b}mlp.down_proj`, I, C, l, 'mlp_out', 'out_in', cfg.mlpBias);
      }
      norm(`${p}norm`, C);
      output('lm_head.weight', C, `${p}embed_tokens.weight`);
      break;
    }
    case 'xglm': {
      // No position tensor: the sinusoid is computed (config.positions 'sinusoidal').
      const p = 'model.';
      out.push({ name: `${p}embed_tokens.weight`, shape: [V, C], kind: 'embedding' });
      for (let l = 0; l < cfg.numLayers; l++) {
        const b = `${p}layers.${l}.`;
        for (const x of ['q', 'k', 'v']) linear(`${b}self_attn.${x}_proj`, C, C, l, 'attn_qkv', 'out_in', true);
        linear(`${b}self_attn.out_proj`, C, C, l, 'attn_out', 'out_in', true);
        norm(`${b}self_attn_layer_norm`, C, l);
        linear(`${b}fc1`, C, I, l, 'mlp_in', 'out_in', true);
        linear(`${b}fc2`, I, C, l, 'mlp_out', 'out_in', true);
        norm(`${b}final_layer_norm`, C, l);
      }
      norm(`${p}layer_norm`, C);
      output('lm_head.weight', C, `${p}embed_tokens.weight`);
      break;
    }
    case 'bloom': {
      const p = 'transformer.';
      out.push({ name: `${p}word_embeddings.weight`, shape: [V, C], kind: 'embedding' });
      norm(`${p}word_embeddings_layernorm`, C);
      for (let l = 0; l < cfg.numLayers; l++) {
        const b = `${p}h.${l}.`;
        norm(`${b}input_layernorm`, C, l);
        linear(`${b}self_attention.query_key_value`, C, 3 * C, l, 'attn_qkv', 'out_in', true);
        linear(`${b}self_attention.dense`, C, C, l, 'attn_out', 'out_in', true);
        norm(`${b}post_attention_layernorm`, C, l);
        linear(`${b}mlp.dense_h_to_4h`, C, I, l, 'mlp_in', 'out_in', true);
        linear(`${b}mlp.dense_4h_to_h`, I, C, l, 'mlp_out', 'out_in', true);
      }
      norm(`${p}ln_f`, C);
      output('lm_head.weight', C, `${p}word_embeddings.weight`);
      break;
    }
  }
  return out;
}

/** Parameters of a model from its config: every tensor its architecture has, a tied matrix once. */
export function parameterCount(cfg: ModelConfig): number {
  let n = 0;
  for (const t of weightSpec(cfg)) if (!t.tiedTo) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}

/** The output matrix's share of the model's parameters (V·E over parameterCount, tied or not). */
export function outputShare(cfg: ModelConfig): number {
  return (cfg.vocabSize * cfg.embedDim) / parameterCount(cfg);
}

/** The linear weights inside the blocks: what INT4 quantisation targets by default. */
export function blockLinears(cfg: ModelConfig): TensorSpec[] {
  return weightSpec(cfg).filter((s) => s.kind === 'linear');
}

/** Input and output width of a 2-D weight given its layout. */
export function linearDims(spec: TensorSpec): { inDim: number; outDim: number } {
  const [a, b] = spec.shape;
  return spec.layout === 'in_out' ? { inDim: a, outDim: b } : { inDim: b, outDim: a };
}
