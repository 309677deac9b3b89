// Maps a Hugging Face `config.json` onto one internal vocabulary (as transformers.js's configs.js
// does), so that nothing past this file sees `n_head` or `num_attention_heads`. Fields the file
// leaves out take the defaults of the transformers config class of that architecture
// (transformers v4.40: GPT2Config, OPTConfig, GPTNeoXConfig, LlamaConfig, BloomConfig).

import { CheckpointError } from '../errors.ts';

export const SUPPORTED_ARCHS = ['gpt2', 'opt', 'gpt_neox', 'llama', 'bloom'] as const;
export type ArchName = (typeof SUPPORTED_ARCHS)[number];

/** gelu_tanh: 0.5x(1+tanh(√(2/π)(x+0.044715x³))) (gelu_new, bloom_gelu); gelu_erf: exact erf form. */
export type Activation = 'gelu_tanh' | 'gelu_erf' | 'relu' | 'silu' | 'quick_gelu';

export interface ModelConfig {
  readonly arch: ArchName;
  readonly vocabSize: number;
  readonly hiddenSize: number; // C
  readonly numLayers: number; // L
  readonly numHeads: number; // NH (query heads)
  readonly numKvHeads: number; // key/value heads (llama GQA); = numHeads elsewhere
  readonly headDim: number; // HS
  readonly intermediateSize: number; // MLP width
  /** Longest sequence the model accepts (learned positions, or the rotary config's max); null = unbounded (ALiBi). */
  readonly maxPositions: number | null;
  readonly norm: 'layernorm' | 'rmsnorm';
  readonly normEps: number;
  readonly activation: Activation;
  readonly tieWordEmbeddings: boolean;
  readonly positions: 'learned' | 'rotary' | 'alibi';
  /** Row offset into the learned position table (OPT: 2). */
  readonly positionOffset: number;
  /** Number of leading dims of each head that get rotary embedding (rotate-half convention). */
  readonly rotaryDims: number;
  readonly rotaryBase: number;
  /** Pre-LN block (norm before attention/MLP); false = post-LN (OPT-350m). */
  readonly preNorm: boolean;
  /** GPT-NeoX parallel residual: x + attn(LN1 x) + mlp(LN2 x). */
  readonly parallelResidual: boolean;
  /** BLOOM: the residual is taken after the layer norm. */
  readonly residualPostNorm: boolean;
  /** Width of the token embedding (OPT word_embed_proj_dim); = hiddenSize where there is no projection. */
  readonly embedDim: number;
  /** A decoder-level final norm before the output matrix. */
  readonly finalNorm: boolean;
  /** BLOOM word_embeddings_layernorm. */
  readonly embeddingNorm: boolean;
  readonly attentionBias: boolean;
  readonly mlpBias: boolean;
  /** The config.json as read, for reference and for writing checkpoints back. */
  readonly raw: Readonly<Record<string, unknown>>;
}

type Raw = Record<string, unknown>;

function num(raw: Raw, keys: string[], fallback: number | undefined, what: string): number {
  for (const k of keys) {
    const v = raw[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new CheckpointError(`config.json: "${k}" should be a number, found ${JSON.stringify(v)}; fix the file`);
    }
    return v;
  }
  if (fallback === undefined) {
    throw new CheckpointError(`config.json: no ${what} ("${keys.join('" or "')}"); the file is incomplete — re-download config.json for this model`);
  }
  return fallback;
}

function bool(raw: Raw, key: string, fallback: boolean): boolean {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new CheckpointError(`config.json: "${key}" should be true or false, found ${JSON.stringify(v)}`);
  return v;
}

function activation(name: unknown, fallback: Activation): Activation {
  if (name === undefined || name === null) return fallback;
  switch (name) {
    case 'gelu_new':
    case 'gelu_fast':
    case 'gelu_pytorch_tanh':
    case 'bloom_gelu':
      return 'gelu_tanh';
    case 'gelu':
      return 'gelu_erf';
    case 'relu':
      return 'relu';
    case 'silu':
    case 'swish':
      return 'silu';
    case 'quick_gelu':
      return 'quick_gelu';
    default:
      throw new CheckpointError(
        `config.json: activation "${String(name)}" is not supported; supported: gelu_new, gelu_fast, gelu_pytorch_tanh, gelu, relu, silu, quick_gelu`,
      );
  }
}

function positive(cfg: ModelConfig): ModelConfig {
  const checks: [string, number][] = [
    ['vocabSize', cfg.vocabSize],
    ['hiddenSize', cfg.hiddenSize],
    ['numLayers', cfg.numLayers],
    ['numHeads', cfg.numHeads],
    ['numKvHeads', cfg.numKvHeads],
    ['headDim', cfg.headDim],
    ['intermediateSize', cfg.intermediateSize],
  ];
  const fix = 'fix config.json or download it again';
  // Checked first: a head count that does not divide the width shows up as a fractional headDim.
  const intPos = (v: number) => Number.isInteger(v) && v > 0;
  if (cfg.arch !== 'llama' && intPos(cfg.hiddenSize) && intPos(cfg.numHeads) && cfg.hiddenSize % cfg.numHeads !== 0) {
    throw new CheckpointError(`config.json: hidden size ${cfg.hiddenSize} is not divisible into ${cfg.numHeads} heads; ${fix}`);
  }
  for (const [k, v] of checks) {
    if (!Number.isInteger(v) || v <= 0) throw new CheckpointError(`config.json: ${k} must be a positive integer, found ${v}; ${fix}`);
  }
  if (cfg.numHeads % cfg.numKvHeads !== 0) {
    throw new CheckpointError(`config.json: ${cfg.numHeads} attention heads are not a multiple of ${cfg.numKvHeads} key/value heads; ${fix}`);
  }
  // Rotate-half pairs dim m with m + R/2, so R must be even (transformers fails on an odd R too).
  if (cfg.positions === 'rotary' && (!Number.isInteger(cfg.rotaryDims) || cfg.rotaryDims < 0 || cfg.rotaryDims % 2 !== 0 || cfg.rotaryDims > cfg.headDim)) {
    throw new CheckpointError(
      `config.json: ${cfg.rotaryDims} rotary dimensions per head (of ${cfg.headDim}) is not an even number within the head; rotary embedding rotates pairs of dimensions — ${fix}`,
    );
  }
  return Object.freeze(cfg);
}

/** Normalises a parsed config.json. Throws CheckpointError naming the problem. */
export function normalizeConfig(raw: Raw): ModelConfig {
  const type = raw['model_type'];
  const base = { raw: Object.freeze({ ...raw }) };
  switch (type) {
    case 'gpt2': {
      if (raw['scale_attn_by_inverse_layer_idx'] === true) {
        throw new CheckpointError('config.json: scale_attn_by_inverse_layer_idx=true (Mistral-style GPT-2) is not supported; use a checkpoint without it');
      }
      // GPT-2 without the 1/√HS attention scale: every engine here scales, so refuse rather than mis-score.
      if (raw['scale_attn_weights'] === false) {
        throw new CheckpointError('config.json: scale_attn_weights=false (unscaled GPT-2 attention) is not supported; use a checkpoint without it');
      }
      const C = num(raw, ['n_embd', 'hidden_size'], 768, 'hidden size');
      const NH = num(raw, ['n_head', 'num_attention_heads'], 12, 'head count');
      return positive({
        ...base,
        arch: 'gpt2',
        vocabSize: num(raw, ['vocab_size'], 50257, 'vocabulary size'),
        hiddenSize: C,
        numLayers: num(raw, ['n_layer', 'num_hidden_layers'], 12, 'layer count'),
        numHeads: NH,
        numKvHeads: NH,
        headDim: C / NH,
        intermediateSize: num(raw, ['n_inner'], 4 * C, 'MLP width'),
        maxPositions: num(raw, ['n_positions', 'max_position_embeddings'], 1024, 'position count'),
        norm: 'layernorm',
        normEps: num(raw, ['layer_norm_epsilon'], 1e-5, 'norm epsilon'),
        activation: activation(raw['activation_function'], 'gelu_tanh'),
        tieWordEmbeddings: bool(raw, 'tie_word_embeddings', true),
        positions: 'learned',
        positionOffset: 0,
        rotaryDims: 0,
        rotaryBase: 0,
        preNorm: true,
        parallelResidual: false,
        residualPostNorm: false,
        embedDim: C,
        finalNorm: true,
        embeddingNorm: false,
        attentionBias: true,
        mlpBias: true,
      });
    }
    case 'opt': {
      const C = num(raw, ['hidden_size'], 768, 'hidden size');
      const NH = num(raw, ['num_attention_heads'], 12, 'head count');
      const preNorm = bool(raw, 'do_layer_norm_before', true);
      const enableBias = bool(raw, 'enable_bias', true);
      if (raw['layer_norm_elementwise_affine'] === false) {
        throw new CheckpointError('config.json: OPT with layer_norm_elementwise_affine=false is not supported; use a checkpoint whose layer norms have weights and biases');
      }
      return positive({
        ...base,
        arch: 'opt',
        vocabSize: num(raw, ['vocab_size'], 50272, 'vocabulary size'),
        hiddenSize: C,
        numLayers: num(raw, ['num_hidden_layers'], 12, 'layer count'),
        numHeads: NH,
        numKvHeads: NH,
        headDim: C / NH,
        intermediateSize: num(raw, ['ffn_dim'], 3072, 'MLP width'),
        maxPositions: num(raw, ['max_position_embeddings'], 2048, 'position count'),
        norm: 'layernorm',
        normEps: 1e-5, // OPT has no config field; nn.LayerNorm's default
        activation: activation(raw['activation_function'], 'relu'),
        tieWordEmbeddings: bool(raw, 'tie_word_embeddings', true),
        positions: 'learned',
        positionOffset: 2,
        rotaryDims: 0,
        rotaryBase: 0,
        preNorm,
        parallelResidual: false,
        residualPostNorm: false,
        embedDim: num(raw, ['word_embed_proj_dim'], C, 'embedding width'),
        finalNorm: preNorm && !bool(raw, '_remove_final_layer_norm', false),
        embeddingNorm: false,
        attentionBias: enableBias,
        mlpBias: enableBias,
      });
    }
    case 'gpt_neox': {
      const C = num(raw, ['hidden_size'], 6144, 'hidden size');
      const NH = num(raw, ['num_attention_heads'], 64, 'head count');
      const HS = C / NH;
      const pct = num(raw, ['rotary_pct', 'partial_rotary_factor'], 0.25, 'rotary share');
      if (raw['rope_scaling'] !== undefined && raw['rope_scaling'] !== null) {
        throw new CheckpointError('config.json: rope_scaling is not supported for gpt_neox; remove it or use an unscaled checkpoint');
      }
      const bias = bool(raw, 'attention_bias', true);
      return positive({
        ...base,
        arch: 'gpt_neox',
        vocabSize: num(raw, ['vocab_size'], 50432, 'vocabulary size'),
        hiddenSize: C,
        numLayers: num(raw, ['num_hidden_layers'], 44, 'layer count'),
        numHeads: NH,
        numKvHeads: NH,
        headDim: HS,
        intermediateSize: num(raw, ['intermediate_size'], 24576, 'MLP width'),
        maxPositions: num(raw, ['max_position_embeddings'], 2048, 'position count'),
        norm: 'layernorm',
        normEps: num(raw, ['layer_norm_eps'], 1e-5, 'norm epsilon'),
        activation: activation(raw['hidden_act'], 'gelu_erf'),
        tieWordEmbeddings: bool(raw, 'tie_word_embeddings', false), // GPTNeoXConfig's own default
        positions: 'rotary',
        positionOffset: 0,
        rotaryDims: Math.trunc(HS * pct),
        rotaryBase: num(raw, ['rotary_emb_base', 'rope_theta'], 10000, 'rotary base'),
        preNorm: true,
        parallelResidual: bool(raw, 'use_parallel_residual', true),
        residualPostNorm: false,
        embedDim: C,
        finalNorm: true,
        embeddingNorm: false,
        attentionBias: bias,
        mlpBias: true,
      });
    }
    case 'llama': {
      const C = num(raw, ['hidden_size'], 4096, 'hidden size');
      const NH = num(raw, ['num_attention_heads'], 32, 'head count');
      if (raw['rope_scaling'] !== undefined && raw['rope_scaling'] !== null) {
        throw new CheckpointError('config.json: rope_scaling is not supported for llama yet; use a checkpoint without it');
      }
      const HS = num(raw, ['head_dim'], C / NH, 'head width');
      return positive({
        ...base,
        arch: 'llama',
        vocabSize: num(raw, ['vocab_size'], 32000, 'vocabulary size'),
        hiddenSize: C,
        numLayers: num(raw, ['num_hidden_layers'], 32, 'layer count'),
        numHeads: NH,
        numKvHeads: num(raw, ['num_key_value_heads'], NH, 'key/value head count'),
        headDim: HS,
        intermediateSize: num(raw, ['intermediate_size'], 11008, 'MLP width'),
        maxPositions: num(raw, ['max_position_embeddings'], 2048, 'position count'),
        norm: 'rmsnorm',
        normEps: num(raw, ['rms_norm_eps'], 1e-6, 'norm epsilon'),
        activation: activation(raw['hidden_act'], 'silu'),
        tieWordEmbeddings: bool(raw, 'tie_word_embeddings', false), // LlamaConfig's own default
        positions: 'rotary',
        positionOffset: 0,
        rotaryDims: HS,
        rotaryBase: num(raw, ['rope_theta'], 10000, 'rotary base'),
        preNorm: true,
        parallelResidual: false,
        residualPostNorm: false,
        embedDim: C,
        finalNorm: true,
        embeddingNorm: false,
        attentionBias: bool(raw, 'attention_bias', false),
        mlpBias: bool(raw, 'mlp_bias', false),
      });
    }
    case 'bloom': {
      // BloomConfig lets n_embed (the name bigscience's files use) override hidden_size.
      const C = num(raw, ['n_embed', 'hidden_size'], 64, 'hidden size');
      const NH = num(raw, ['n_head', 'num_attention_heads'], 8, 'head count');
      return positive({
        ...base,
        arch: 'bloom',
        vocabSize: num(raw, ['vocab_size'], 250880, 'vocabulary size'),
        hiddenSize: C,
        numLayers: num(raw, ['n_layer', 'num_hidden_layers'], 2, 'layer count'),
        numHeads: NH,
        numKvHeads: NH,
        headDim: C / NH,
        intermediateSize: 4 * C,
        maxPositions: null,
        norm: 'layernorm',
        normEps: num(raw, ['layer_norm_epsilon'], 1e-5, 'norm epsilon'),
        activation: 'gelu_tanh',
        tieWordEmbeddings: bool(raw, 'tie_word_embeddings', true),
        positions: 'alibi',
        positionOffset: 0,
        rotaryDims: 0,
        rotaryBase: 0,
        preNorm: true,
        parallelResidual: false,
        residualPostNorm: bool(raw, 'apply_residual_connection_post_layernorm', false),
        embedDim: C,
        finalNorm: true,
        embeddingNorm: true,
        attentionBias: true,
        mlpBias: true,
      });
    }
    default:
      if (type === undefined || type === null) {
        throw new CheckpointError(
          `config.json has no "model_type"; add the architecture's model_type (langquant supports ${SUPPORTED_ARCHS.join(', ')}) or download the model's config.json again`,
        );
      }
      throw new CheckpointError(
        `config.json: model_type ${JSON.stringify(type)} is not supported; langquant supports ${SUPPORTED_ARCHS.join(', ')}`,
      );
  }
}
