// Maps a Hugging Face `config.json` onto one internal vocabulary (as transformers.js's configs.js
// does), so that nothing past this file sees `n_head` or `num_attention_heads`. Fields the file
// leaves out take the defaults of the transformers config class of that architecture
// (transformers v4.40: GPT2Config, OPTConfig, GPTNeoXConfig, LlamaConfig, BloomConfig, Qwen2Config,
// MistralConfig, GemmaConfig, XGLMConfig). A field that asks for something no engine here computes
// (a rope_scaling type, logit soft-capping, an unknown activation, Qwen2's use_sliding_window) is
// refused by name rather than ignored, so a checkpoint is never scored wrongly.

import { CheckpointError } from '../errors.ts';

export const SUPPORTED_ARCHS = [
  'gpt2',
  'opt',
  'gpt_neox',
  'llama',
  'bloom',
  'qwen2',
  'mistral',
  'gemma',
  'xglm',
] as const;
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
  /** sinusoidal: XGLM's fixed table [sin | cos], computed, not stored. */
  readonly positions: 'learned' | 'rotary' | 'alibi' | 'sinusoidal';
  /** Row offset into the position table (OPT, XGLM: 2). */
  readonly positionOffset: number;
  /** A row of the sinusoidal table that is all zeros (XGLM's padding_idx = pad_token_id), or null. */
  readonly positionPadRow: number | null;
  /**
   * Sliding-window attention (Mistral): query i attends key j iff 0 ≤ i − j ≤ slidingWindow, so
   * W + 1 keys, as transformers v4.40 masks (later versions keep W keys); null = plain causal.
   */
  readonly slidingWindow: number | null;
  /** Token embeddings are multiplied by this float32 factor (Gemma √C, XGLM √d_model); 1 elsewhere. */
  readonly embedScale: number;
  /** RMSNorm gain = normGainOffset + stored weight (Gemma stores w for a gain 1 + w); 0 elsewhere. */
  readonly normGainOffset: number;
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
  /** Biases on the query, key and value projections. */
  readonly attentionBias: boolean;
  /** Bias on the attention output projection (Qwen2 has q/k/v biases but none here). */
  readonly attentionOutBias: boolean;
  readonly mlpBias: boolean;
  /** The config.json as read, for reference and for writing checkpoints back. */
  readonly raw: Readonly<Record<string, unknown>>;
}

type Raw = Record<string, unknown>;

/** The fields of an architecture without sinusoid, window, embedding scale or norm offset. */
const PLAIN = { positionPadRow: null, slidingWindow: null, embedScale: 1, normGainOffset: 0 } as const;

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
    throw new CheckpointError(
      `config.json: no ${what} ("${keys.join('" or "')}"); the file is incomplete — re-download config.json for this model`,
    );
  }
  return fallback;
}

function bool(raw: Raw, key: string, fallback: boolean): boolean {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean')
    throw new CheckpointError(`config.json: "${key}" should be true or false, found ${JSON.stringify(v)}`);
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
  // Llama, Mistral and Gemma may set head_dim on their own (Gemma's q is NH·head_dim wide, not C).
  if (
    !['llama', 'mistral', 'gemma'].includes(cfg.arch) &&
    intPos(cfg.hiddenSize) &&
    intPos(cfg.numHeads) &&
    cfg.hiddenSize % cfg.numHeads !== 0
  ) {
    throw new CheckpointError(
      `config.json: hidden size ${cfg.hiddenSize} is not divisible into ${cfg.numHeads} heads; ${fix}`,
    );
  }
  for (const [k, v] of checks) {
    if (!Number.isInteger(v) || v <= 0)
      throw new CheckpointError(`config.json: ${k} must be a positive integer, found ${v}; ${fix}`);
  }
  if (cfg.numHeads % cfg.numKvHeads !== 0) {
    throw new CheckpointError(
      `config.json: ${cfg.numHeads} attention heads are not a multiple of ${cfg.numKvHeads} key/value heads; ${fix}`,
    );
  }
  // Rotate-half pairs dim m with m + R/2, so R must be even (transformers fails on an odd R too).
  if (
    cfg.positions === 'rotary' &&
    (!Number.isInteger(cfg.rotaryDims) ||
      cfg.rotaryDims < 0 ||
      cfg.rotaryDims % 2 !== 0 ||
      cfg.rotaryDims > cfg.headDim)
  ) {
    throw new CheckpointError(
      `config.json: ${cfg.rotaryDims} rotary dimensions per head (of ${cfg.headDim}) is not an even number within the head; rotary embedding rotates pairs of dimensions — ${fix}`,
    );
  }
  return Object.freeze(cfg);
}

/** Normalises a parsed config.json. Throws CheckpointError naming the problem. */
export function normalizeConfig(raw: Raw): ModelConfig {
  const type = raw['model_type'];
  refuseSoftCapping(raw);
  const base = { raw: Object.freeze({ ...raw }) };
  switch (type) {
    case 'gpt2': {
      if (raw['scale_attn_by_inverse_layer_idx'] === true) {
        throw new CheckpointError(
          'config.json: scale_attn_by_inverse_layer_idx=true (Mistral-style GPT-2) is not supported; use a checkpoint without it',
        );
      }
      // GPT-2 without the 1/√HS attention scale: every engine here scales, so refuse rather than mis-score.
      if (raw['scale_attn_weights'] === false) {
        throw new CheckpointError(
          'config.json: scale_attn_weights=false (unscaled GPT-2 attention) is not supported; use a checkpoint without it',
        );
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
        ...PLAIN,
        rotaryDims: 0,
        rotaryBase: 0,
        preNorm: true,
        parallelResidual: false,
        residualPostNorm: false,
        embedDim: C,
        finalNorm: true,
        embeddingNorm: false,
        attentionBias: true,
        attentionOutBias: true,
        mlpBias: true,
      });
    }
    case 'opt': {
      const C = num(raw, ['hidden_size'], 768, 'hidden size');
      const NH = num(raw, ['num_attention_heads'], 12, 'head count');
      const preNorm = bool(raw, 'do_layer_norm_before', true);
      const enableBias = bool(raw, 'enable_bias', true);
      if (raw['layer_norm_elementwise_affine'] === false) {
        throw new CheckpointError(
          'config.json: OPT with layer_norm_elementwise_affine=false is not supported; use a checkpoint whose layer norms have weights and biases',
        );
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
        ...PLAIN,
        rotaryDims: 0,
        rotaryBase: 0,
        preNorm,
        parallelResidual: false,
        residualPostNorm: false,
        embedDim: num(raw, ['word_embed_proj_dim'], C, 'embedding width'),
        finalNorm: preNorm && !bool(raw, '_remove_final_layer_norm', false),
        embeddingNorm: false,
        attentionBias: enableBias,
        attentionOutBias: enableBias,
        mlpBias: enableBias,
      });
    }
    case 'gpt_neox': {
      const C = num(raw, ['hidden_size'], 6144, 'hidden size');
      const NH = num(raw, ['num_attention_heads'], 64, 'head count');
      const HS = C / NH;
      const pct = num(raw, ['rotary_pct', 'partial_rotary_factor'], 0.25, 'rotary share');
      refuseRopeScaling(raw, 'gpt_neox');
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
        ...PLAIN,
        rotaryDims: Math.trunc(HS * pct),
        rotaryBase: num(raw, ['rotary_emb_base', 'rope_theta'], 10000, 'rotary base'),
        preNorm: true,
        parallelResidual: bool(raw, 'use_parallel_residual', true),
        residualPostNorm: false,
        embedDim: C,
        finalNorm: true,
        embeddingNorm: false,
        attentionBias: bias,
        attentionOutBias: bias,
        mlpBias: true,
      });
    }
    case 'llama':
    case 'qwen2':
    case 'mistral':
    case 'gemma':
      return llamaFamily(raw, type, base.raw);
    case 'xglm':
      return xglm(raw, base.raw);
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
        ...PLAIN,
        rotaryDims: 0,
        rotaryBase: 0,
        preNorm: true,
        parallelResidual: false,
        residualPostNorm: bool(raw, 'apply_residual_connection_post_layernorm', false),
        embedDim: C,
        finalNorm: true,
        embeddingNorm: true,
        attentionBias: true,
        attentionOutBias: true,
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

/**
 * rope_scaling (linear, dynamic, yarn, llama3, …) stretches the rotary angles; no engine here does,
 * so a scaled checkpoint is refused, naming its type.
 */
function refuseRopeScaling(raw: Raw, arch: string): void {
  const rs = raw['rope_scaling'];
  if (rs === undefined || rs === null) return;
  const r = typeof rs === 'object' ? (rs as Raw) : {};
  const kind = r['rope_type'] ?? r['type'];
  throw new CheckpointError(
    `config.json: rope_scaling is not supported for ${arch} (rope_scaling type ${JSON.stringify(kind ?? rs)}); use a checkpoint without it`,
  );
}

/** Gemma-2-style tanh soft-capping of attention scores or final logits: not computed here, so refused. */
function refuseSoftCapping(raw: Raw): void {
  for (const k of ['attn_logit_softcapping', 'final_logit_softcapping', 'logit_softcapping']) {
    if (raw[k] !== undefined && raw[k] !== null) {
      throw new CheckpointError(
        `config.json: ${k}=${JSON.stringify(raw[k])} (logit soft-capping) is not supported; use a checkpoint without it`,
      );
    }
  }
}

/**
 * Llama and the models built on its block (RMSNorm, rotate-half RoPE over the head, GQA, gated MLP):
 * - llama: biases only when attention_bias / mlp_bias say so (on q, k, v and o alike);
 * - qwen2: biases on q, k and v always, none on o or the MLP; use_sliding_window: true is refused
 *   (v4.40's eager attention ignores it, so there is no reference to match);
 * - mistral: a sliding window of `sliding_window` in every layer (null: none);
 * - gemma: head_dim from the config, RMSNorm gain 1 + w, embeddings × √C (rounded to float32),
 *   gated GELU with `hidden_activation` (default the tanh GELU; `hidden_act` is ignored, as v4.40's
 *   GemmaMLP does), tied by default.
 */
function llamaFamily(raw: Raw, arch: 'llama' | 'qwen2' | 'mistral' | 'gemma', rawFrozen: Readonly<Raw>): ModelConfig {
  refuseRopeScaling(raw, arch);
  // Each config class's own defaults (transformers v4.40).
  const d = {
    llama: { V: 32000, C: 4096, I: 11008, L: 32, NH: 32, pos: 2048, eps: 1e-6, tie: false },
    qwen2: { V: 151936, C: 4096, I: 22016, L: 32, NH: 32, pos: 32768, eps: 1e-6, tie: false },
    mistral: { V: 32000, C: 4096, I: 14336, L: 32, NH: 32, pos: 4096 * 32, eps: 1e-6, tie: false },
    gemma: { V: 256000, C: 3072, I: 24576, L: 28, NH: 16, pos: 8192, eps: 1e-6, tie: true },
  }[arch];
  const C = num(raw, ['hidden_size'], d.C, 'hidden size');
  const NH = num(raw, ['num_attention_heads'], d.NH, 'head count');
  const NKV = num(raw, ['num_key_value_heads'], arch === 'mistral' ? 8 : NH, 'key/value head count');
  // Qwen2 has no head_dim field: its head is always C/NH.
  const HS = arch === 'qwen2' ? C / NH : num(raw, ['head_dim'], arch === 'gemma' ? 256 : C / NH, 'head width');
  let act: Activation;
  if (arch === 'gemma') act = activation(raw['hidden_activation'], 'gelu_tanh');
  else act = activation(raw['hidden_act'], 'silu');
  let window: number | null = null;
  if (arch === 'mistral') {
    window = raw['sliding_window'] === null ? null : num(raw, ['sliding_window'], 4096, 'sliding window');
    if (window !== null && (!Number.isInteger(window) || window < 1)) {
      throw new CheckpointError(
        `config.json: sliding_window must be a positive integer or null, found ${window}; fix config.json`,
      );
    }
  }
  if (arch === 'qwen2' && bool(raw, 'use_sliding_window', false)) {
    throw new CheckpointError(
      'config.json: use_sliding_window=true (Qwen2 sliding-window attention) is not supported; use a checkpoint with use_sliding_window false',
    );
  }
  const qkvBias = arch === 'qwen2' ? true : bool(raw, 'attention_bias', false);
  return positive({
    raw: rawFrozen,
    arch,
    vocabSize: num(raw, ['vocab_size'], d.V, 'vocabulary size'),
    hiddenSize: C,
    numLayers: num(raw, ['num_hidden_layers'], d.L, 'layer count'),
    numHeads: NH,
    numKvHeads: NKV,
    headDim: HS,
    intermediateSize: num(raw, ['intermediate_size'], d.I, 'MLP width'),
    maxPositions: num(raw, ['max_position_embeddings'], d.pos, 'position count'),
    norm: 'rmsnorm',
    normEps: num(raw, ['rms_norm_eps'], d.eps, 'norm epsilon'),
    activation: act,
    tieWordEmbeddings: bool(raw, 'tie_word_embeddings', d.tie),
    positions: 'rotary',
    positionOffset: 0,
    positionPadRow: null,
    slidingWindow: window,
    // Gemma: torch.tensor(hidden_size ** 0.5, dtype=hidden_states.dtype), i.e. √C rounded to float32.
    embedScale: arch === 'gemma' ? Math.fround(Math.sqrt(C)) : 1,
    normGainOffset: arch === 'gemma' ? 1 : 0,
    rotaryDims: HS,
    rotaryBase: num(raw, ['rope_theta'], 10000, 'rotary base'),
    preNorm: true,
    parallelResidual: false,
    residualPostNorm: false,
    embedDim: C,
    finalNorm: true,
    embeddingNorm: false,
    attentionBias: qkvBias,
    attentionOutBias: arch === 'qwen2' ? false : qkvBias,
    mlpBias: arch === 'llama' ? bool(raw, 'mlp_bias', false) : false,
  });
}

/**
 * XGLM (Lin et al. 2022): OPT-like pre-LN decoder with its own config names (d_model, num_layers,
 * attention_heads, ffn_dim), embeddings × √d_model when scale_embedding, a computed sinusoidal table
 * read at row pos + 2 whose row pad_token_id is zero, biased linears, LayerNorm eps 1e-5.
 */
function xglm(raw: Raw, rawFrozen: Readonly<Raw>): ModelConfig {
  const C = num(raw, ['d_model'], 1024, 'hidden size');
  const NH = num(raw, ['attention_heads'], 16, 'head count');
  const pad = raw['pad_token_id'] === null ? null : num(raw, ['pad_token_id'], 1, 'pad token id');
  return positive({
    raw: rawFrozen,
    arch: 'xglm',
    vocabSize: num(raw, ['vocab_size'], 256008, 'vocabulary size'),
    hiddenSize: C,
    numLayers: num(raw, ['num_layers'], 24, 'layer count'),
    numHeads: NH,
    numKvHeads: NH,
    headDim: C / NH,
    intermediateSize: num(raw, ['ffn_dim'], 4096, 'MLP width'),
    maxPositions: num(raw, ['max_position_embeddings'], 2048, 'position count'),
    norm: 'layernorm',
    normEps: 1e-5, // nn.LayerNorm's default; XGLMConfig has no field
    activation: activation(raw['activation_function'], 'gelu_erf'),
    tieWordEmbeddings: bool(raw, 'tie_word_embeddings', true),
    positions: 'sinusoidal',
    positionOffset: 2,
    positionPadRow: pad,
    slidingWindow: null,
    embedScale: bool(raw, 'scale_embedding', true) ? Math.fround(Math.sqrt(C)) : 1,
    normGainOffset: 0,
    rotaryDims: 0,
    rotaryBase: 0,
    preNorm: true,
    parallelResidual: false,
    residualPostNorm: false,
    embedDim: C,
    finalNorm: true,
    embeddingNorm: false,
    attentionBias: true,
    attentionOutBias: true,
    mlpBias: true,
  });
}
