// The trainable network: parameters laid out by the canonical checkpoint names of src/model/spec.ts,
// a forward pass that keeps what the backward pass needs, and the backward pass, for three
// architectures at small sizes (in the manner of llm.c's train_gpt2.c):
//   gpt2     learned positions, pre-LN, fused c_attn [q|k|v], gelu (tanh), tied output matrix;
//   opt      learned positions read at row t+2, pre-LN, separate q/k/v, relu, tied output matrix;
//   gpt_neox no position table, partial rotary (rotate-half) on the first R dims of each head, fused
//            query_key_value interleaved per head [q_h|k_h|v_h], parallel residual
//            x + attn(LN1 x) + mlp(LN2 x), exact-erf gelu, untied embed_out.
// Every weight matrix is held [out, in]; GPT-2's Conv1D tensors are transposed when written/read.
// Arrays are Float32Array in training and Float64Array in the gradient checks.

import { normalizeConfig, type ModelConfig } from '../model/config.ts';
import { weightSpec, type TensorSpec } from '../model/spec.ts';
import { Rng } from '../util/rng.ts';
import { rotaryTables } from '../kernels/rotary.ts';
import {
  activationBackward,
  activationForward,
  attentionBackward,
  attentionForward,
  crossEntropyBackward,
  layernormBackward,
  layernormForward,
  linearBackward,
  linearForward,
  rotaryApply,
  softmaxCrossEntropy,
  type FloatArray,
  type TrainActivation,
} from './kernels.ts';

export const TRAIN_ARCHS = ['gpt2', 'opt', 'gpt_neox'] as const;
export type TrainArch = (typeof TRAIN_ARCHS)[number];

export interface NetShape {
  readonly arch: TrainArch;
  readonly vocabSize: number;
  readonly layers: number;
  readonly hidden: number;
  readonly heads: number;
  /** Longest sequence (learned position rows; rotary max positions). */
  readonly context: number;
  /** GPT-NeoX share of each head that gets rotary (Pythia: 0.25). */
  readonly rotaryPct?: number;
  readonly bosTokenId?: number;
  readonly eosTokenId?: number;
}

/** The Hugging Face config.json for a shape, with the real field names of each architecture. */
export function hfConfig(s: NetShape): Record<string, unknown> {
  const bos = s.bosTokenId ?? s.vocabSize - 1;
  const eos = s.eosTokenId ?? s.vocabSize - 1;
  const common = {
    torch_dtype: 'float32',
    transformers_version: '4.40.2',
    bos_token_id: bos,
    eos_token_id: eos,
    vocab_size: s.vocabSize,
  };
  switch (s.arch) {
    case 'gpt2':
      return {
        architectures: ['GPT2LMHeadModel'],
        model_type: 'gpt2',
        ...common,
        n_positions: s.context,
        n_ctx: s.context,
        n_embd: s.hidden,
        n_layer: s.layers,
        n_head: s.heads,
        n_inner: null,
        activation_function: 'gelu_new',
        layer_norm_epsilon: 1e-5,
        initializer_range: 0.02,
        resid_pdrop: 0,
        embd_pdrop: 0,
        attn_pdrop: 0,
        scale_attn_weights: true,
        use_cache: true,
        tie_word_embeddings: true,
      };
    case 'opt':
      return {
        architectures: ['OPTForCausalLM'],
        model_type: 'opt',
        ...common,
        pad_token_id: eos,
        hidden_size: s.hidden,
        num_hidden_layers: s.layers,
        num_attention_heads: s.heads,
        ffn_dim: 4 * s.hidden,
        max_position_embeddings: s.context,
        word_embed_proj_dim: s.hidden,
        do_layer_norm_before: true,
        activation_function: 'relu',
        enable_bias: true,
        layer_norm_elementwise_affine: true,
        dropout: 0,
        attention_dropout: 0,
        activation_dropout: 0,
        layerdrop: 0,
        init_std: 0.02,
        use_cache: true,
        tie_word_embeddings: true,
      };
    case 'gpt_neox':
      return {
        architectures: ['GPTNeoXForCausalLM'],
        model_type: 'gpt_neox',
        ...common,
        hidden_size: s.hidden,
        num_hidden_layers: s.layers,
        num_attention_heads: s.heads,
        intermediate_size: 4 * s.hidden,
        max_position_embeddings: s.context,
        rotary_pct: s.rotaryPct ?? 0.25,
        rotary_emb_base: 10000,
        hidden_act: 'gelu',
        use_parallel_residual: true,
        layer_norm_eps: 1e-5,
        attention_bias: true,
        initializer_range: 0.02,
        attention_dropout: 0,
        hidden_dropout: 0,
        use_cache: true,
        tie_word_embeddings: false,
      };
  }
}

/** Where a named tensor lives in the flat parameter array, in the trainer's [out, in] layout. */
export interface ParamSlot {
  readonly spec: TensorSpec;
  readonly offset: number;
  readonly size: number;
  /** The trainer's shape ([out, in] for matrices); equals spec.shape except for GPT-2 Conv1D. */
  readonly shape: readonly number[];
  /** Stored [in, out] in the checkpoint: transpose when writing and reading. */
  readonly transposed: boolean;
  /** Takes part in weight decay (matrices and embeddings; not biases or norms). */
  readonly decay: boolean;
}

interface LayerViews {
  ln1w: FloatArray;
  ln1b: FloatArray;
  ln2w: FloatArray;
  ln2b: FloatArray;
  /** fused [3C, C] (gpt2, gpt_neox) */
  qkvW: FloatArray | null;
  qkvB: FloatArray | null;
  /** separate [C, C] (opt) */
  qW: FloatArray | null;
  qB: FloatArray | null;
  kW: FloatArray | null;
  kB: FloatArray | null;
  vW: FloatArray | null;
  vB: FloatArray | null;
  projW: FloatArray;
  projB: FloatArray;
  fc1W: FloatArray;
  fc1B: FloatArray;
  fc2W: FloatArray;
  fc2B: FloatArray;
}

interface LayerActs {
  ln1: FloatArray;
  ln1m: FloatArray;
  ln1r: FloatArray;
  q: FloatArray;
  k: FloatArray;
  v: FloatArray;
  att: FloatArray;
  atty: FloatArray;
  mid: FloatArray;
  ln2: FloatArray;
  ln2m: FloatArray;
  ln2r: FloatArray;
  fch: FloatArray;
  fca: FloatArray;
}

type ArrayCtor = Float32ArrayConstructor | Float64ArrayConstructor;

export class TrainNet {
  readonly shape: NetShape;
  readonly config: ModelConfig;
  readonly slots: ParamSlot[];
  readonly numParams: number;
  readonly params: FloatArray;
  readonly grads: FloatArray;
  /** Largest batch the activation buffers hold. */
  readonly maxBatch: number;
  private readonly P: Map<string, FloatArray> = new Map();
  private readonly G: Map<string, FloatArray> = new Map();
  private readonly L: LayerViews[] = [];
  private readonly LG: LayerViews[] = [];
  private readonly A: LayerActs[] = [];
  private readonly act: TrainActivation;
  private readonly rotary: number;
  private readonly cos: FloatArray;
  private readonly sin: FloatArray;
  // Whole-model activations.
  private readonly resid: FloatArray[]; // L+1 × [B·T, C]
  private readonly lnf: FloatArray;
  private readonly lnfm: FloatArray;
  private readonly lnfr: FloatArray;
  private readonly logits: FloatArray; // [B·T, V] (probabilities after the loss)
  private readonly qkv: FloatArray; // [B·T, 3C] scratch
  private readonly scratch: FloatArray;
  private readonly dres: FloatArray;
  private readonly dres2: FloatArray;
  private readonly dln: FloatArray;
  private readonly dq: FloatArray;
  private readonly dk: FloatArray;
  private readonly dv: FloatArray;
  private readonly datty: FloatArray;
  private readonly dqkv: FloatArray;
  private readonly dfch: FloatArray;
  private readonly dfca: FloatArray;
  private readonly dpre: FloatArray;
  /** Per-position losses (nats) of the last forward, [B·T]. */
  readonly losses: Float64Array;
  private lastB = 0;
  private lastT = 0;
  private lastTargets: Int32Array | null = null;
  private lastIds: Int32Array | null = null;
  private lastCount = 0;

  constructor(shape: NetShape, opts: { maxBatch: number; float64?: boolean }) {
    if (shape.hidden % shape.heads !== 0)
      throw new Error(`hidden size ${shape.hidden} is not divisible by ${shape.heads} heads`);
    const F: ArrayCtor = opts.float64 ? Float64Array : Float32Array;
    this.shape = shape;
    this.config = normalizeConfig(hfConfig(shape));
    this.maxBatch = opts.maxBatch;
    const cfg = this.config;
    const C = cfg.hiddenSize,
      V = cfg.vocabSize,
      I = cfg.intermediateSize,
      NH = cfg.numHeads;
    const T = shape.context;
    const BT = opts.maxBatch * T;
    this.act = cfg.activation === 'relu' ? 'relu' : cfg.activation === 'gelu_erf' ? 'gelu_erf' : 'gelu_tanh';
    this.rotary = cfg.positions === 'rotary' ? cfg.rotaryDims : 0;

    // Parameter layout: spec order, tied output matrices share the embedding (no slot of their own).
    const slots: ParamSlot[] = [];
    let off = 0;
    for (const spec of weightSpec(cfg)) {
      if (spec.tiedTo) continue;
      const transposed = spec.layout === 'in_out';
      const sh = transposed ? [spec.shape[1], spec.shape[0]] : [...spec.shape];
      const size = sh.reduce((a, b) => a * b, 1);
      const decay =
        spec.kind === 'linear' ||
        spec.kind === 'embedding' ||
        spec.kind === 'position' ||
        spec.kind === 'output' ||
        spec.kind === 'projection';
      slots.push({ spec, offset: off, size, shape: sh, transposed, decay });
      off += size;
    }
    this.slots = slots;
    this.numParams = off;
    this.params = new F(off);
    this.grads = new F(off);
    for (const s of slots) {
      this.P.set(s.spec.name, this.params.subarray(s.offset, s.offset + s.size));
      this.G.set(s.spec.name, this.grads.subarray(s.offset, s.offset + s.size));
    }
    for (let l = 0; l < cfg.numLayers; l++) {
      this.L.push(this.layerViews(this.P, l));
      this.LG.push(this.layerViews(this.G, l));
      this.A.push({
        ln1: new F(BT * C),
        ln1m: new F(BT),
        ln1r: new F(BT),
        q: new F(BT * C),
        k: new F(BT * C),
        v: new F(BT * C),
        att: new F(opts.maxBatch * NH * T * T),
        atty: new F(BT * C),
        mid: new F(BT * C),
        ln2: new F(BT * C),
        ln2m: new F(BT),
        ln2r: new F(BT),
        fch: new F(BT * I),
        fca: new F(BT * I),
      });
    }
    this.resid = Array.from({ length: cfg.numLayers + 1 }, () => new F(BT * C));
    this.lnf = new F(BT * C);
    this.lnfm = new F(BT);
    this.lnfr = new F(BT);
    this.logits = new F(BT * V);
    this.qkv = new F(BT * 3 * C);
    const widest = Math.max(V, 3 * C, I);
    this.scratch = new F(Math.max(widest * Math.max(C, I), BT * widest + BT * Math.max(C, I)));
    this.dres = new F(BT * C);
    this.dres2 = new F(BT * C);
    this.dln = new F(BT * C);
    this.dq = new F(BT * C);
    this.dk = new F(BT * C);
    this.dv = new F(BT * C);
    this.datty = new F(BT * C);
    this.dqkv = new F(BT * 3 * C);
    this.dfch = new F(BT * I);
    this.dfca = new F(BT * I);
    this.dpre = new F(T);
    this.losses = new Float64Array(BT);
    const R = this.rotary;
    this.cos = new F(Math.max(1, (T * R) / 2));
    this.sin = new F(Math.max(1, (T * R) / 2));
    if (R > 0) rotaryTables(this.cos, this.sin, T, R, cfg.rotaryBase);
  }

  private layerViews(M: Map<string, FloatArray>, l: number): LayerViews {
    const g = (n: string) => {
      const v = M.get(n);
      if (!v) throw new Error(`TrainNet: no tensor ${n}`);
      return v;
    };
    switch (this.shape.arch) {
      case 'gpt2': {
        const b = `transformer.h.${l}.`;
        return {
          ln1w: g(`${b}ln_1.weight`),
          ln1b: g(`${b}ln_1.bias`),
          ln2w: g(`${b}ln_2.weight`),
          ln2b: g(`${b}ln_2.bias`),
          qkvW: g(`${b}attn.c_attn.weight`),
          qkvB: g(`${b}attn.c_attn.bias`),
          qW: null,
          qB: null,
          kW: null,
          kB: null,
          vW: null,
          vB: null,
          projW: g(`${b}attn.c_proj.weight`),
          projB: g(`${b}attn.c_proj.bias`),
          fc1W: g(`${b}mlp.c_fc.weight`),
          fc1B: g(`${b}mlp.c_fc.bias`),
          fc2W: g(`${b}mlp.c_proj.weight`),
          fc2B: g(`${b}mlp.c_proj.bias`),
        };
      }
      case 'opt': {
        const b = `model.decoder.layers.${l}.`;
        return {
          ln1w: g(`${b}self_attn_layer_norm.weight`),
          ln1b: g(`${b}self_attn_layer_norm.bias`),
          ln2w: g(`${b}final_layer_norm.weight`),
          ln2b: g(`${b}final_layer_norm.bias`),
          qkvW: null,
          qkvB: null,
          qW: g(`${b}self_attn.q_proj.weight`),
          qB: g(`${b}self_attn.q_proj.bias`),
          kW: g(`${b}self_attn.k_proj.weight`),
          kB: g(`${b}self_attn.k_proj.bias`),
          vW: g(`${b}self_attn.v_proj.weight`),
          vB: g(`${b}self_attn.v_proj.bias`),
          projW: g(`${b}self_attn.out_proj.weight`),
          projB: g(`${b}self_attn.out_proj.bias`),
          fc1W: g(`${b}fc1.weight`),
          fc1B: g(`${b}fc1.bias`),
          fc2W: g(`${b}fc2.weight`),
          fc2B: g(`${b}fc2.bias`),
        };
      }
      case 'gpt_neox': {
        const b = `gpt_neox.layers.${l}.`;
        return {
          ln1w: g(`${b}input_layernorm.weight`),
          ln1b: g(`${b}input_layernorm.bias`),
          ln2w: g(`${b}post_attention_layernorm.weight`),
          ln2b: g(`${b}post_attention_layernorm.bias`),
          qkvW: g(`${b}attention.query_key_value.weight`),
          qkvB: g(`${b}attention.query_key_value.bias`),
          qW: null,
          qB: null,
          kW: null,
          kB: null,
          vW: null,
          vB: null,
          projW: g(`${b}attention.dense.weight`),
          projB: g(`${b}attention.dense.bias`),
          fc1W: g(`${b}mlp.dense_h_to_4h.weight`),
          fc1B: g(`${b}mlp.dense_h_to_4h.bias`),
          fc2W: g(`${b}mlp.dense_4h_to_h.weight`),
          fc2B: g(`${b}mlp.dense_4h_to_h.bias`),
        };
      }
    }
  }

  /** Named view of a parameter (trainer layout). */
  param(name: string): FloatArray {
    const v = this.P.get(name);
    if (!v) throw new Error(`TrainNet: no parameter ${name}`);
    return v;
  }

  grad(name: string): FloatArray {
    const v = this.G.get(name);
    if (!v) throw new Error(`TrainNet: no gradient ${name}`);
    return v;
  }

  private names() {
    switch (this.shape.arch) {
      case 'gpt2':
        return {
          tok: 'transformer.wte.weight',
          pos: 'transformer.wpe.weight',
          posOffset: 0,
          lnf: 'transformer.ln_f',
          out: 'transformer.wte.weight',
        };
      case 'opt':
        return {
          tok: 'model.decoder.embed_tokens.weight',
          pos: 'model.decoder.embed_positions.weight',
          posOffset: 2,
          lnf: 'model.decoder.final_layer_norm',
          out: 'model.decoder.embed_tokens.weight',
        };
      case 'gpt_neox':
        return {
          tok: 'gpt_neox.embed_in.weight',
          pos: null,
          posOffset: 0,
          lnf: 'gpt_neox.final_layer_norm',
          out: 'embed_out.weight',
        };
    }
  }

  /**
   * Seeded initialisation (GPT-2 paper §2.3 / llm.c): matrices N(0, 0.02), the two residual
   * projections of each block scaled by 1/√(2L), position rows N(0, 0.01), biases 0, norm gains 1.
   */
  init(seed: number): void {
    const rng = new Rng(seed);
    const L = this.config.numLayers;
    for (const s of this.slots) {
      const v = this.params.subarray(s.offset, s.offset + s.size);
      const k = s.spec.kind;
      if (k === 'norm') {
        v.fill(s.spec.name.endsWith('.weight') ? 1 : 0);
      } else if (k === 'bias') {
        v.fill(0);
      } else {
        let std = k === 'position' ? 0.01 : 0.02;
        if (s.spec.role === 'attn_out' || s.spec.role === 'mlp_out') std /= Math.sqrt(2 * L);
        for (let i = 0; i < v.length; i++) v[i] = std * rng.normal();
      }
    }
  }

  /**
   * Forward pass over ids [B, T]; targets [B, T] (−1 = not scored). Returns the summed loss (nats)
   * over scored positions; per-position losses are in `losses`. Keeps activations for backward().
   */
  forward(ids: Int32Array, targets: Int32Array, B: number, T: number): number {
    const cfg = this.config;
    const C = cfg.hiddenSize,
      V = cfg.vocabSize,
      I = cfg.intermediateSize,
      NH = cfg.numHeads,
      HS = cfg.headDim;
    if (B > this.maxBatch || T > this.shape.context)
      throw new Error(`TrainNet.forward: batch ${B}×${T} exceeds ${this.maxBatch}×${this.shape.context}`);
    const BT = B * T;
    const n = this.names();
    const wte = this.param(n.tok);
    const wpe = n.pos ? this.param(n.pos) : null;
    const x0 = this.resid[0];
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const row = b * T + t;
        const id = ids[row];
        if (id < 0 || id >= V) throw new Error(`TrainNet.forward: token id ${id} outside [0, ${V})`);
        const o = row * C;
        for (let i = 0; i < C; i++) x0[o + i] = wte[id * C + i];
        if (wpe) {
          const p = (t + n.posOffset) * C;
          for (let i = 0; i < C; i++) x0[o + i] += wpe[p + i];
        }
      }
    }
    for (let l = 0; l < cfg.numLayers; l++) {
      const W = this.L[l];
      const a = this.A[l];
      const xin = this.resid[l];
      const xout = this.resid[l + 1];
      layernormForward(a.ln1, a.ln1m, a.ln1r, xin, W.ln1w, W.ln1b, BT, C, cfg.normEps);
      this.qkvForward(W, a, BT, B, T);
      attentionForward(a.atty, a.att, a.q, a.k, a.v, B, T, NH, HS);
      const proj = this.dln; // scratch for the attention output projection [BT, C]
      linearForward(proj, a.atty, W.projW, W.projB, BT, C, C);
      const mlpIn = cfg.parallelResidual ? xin : a.mid;
      if (!cfg.parallelResidual) for (let i = 0; i < BT * C; i++) a.mid[i] = xin[i] + proj[i];
      layernormForward(a.ln2, a.ln2m, a.ln2r, mlpIn, W.ln2w, W.ln2b, BT, C, cfg.normEps);
      linearForward(a.fch, a.ln2, W.fc1W, W.fc1B, BT, C, I);
      activationForward(a.fca, a.fch, BT * I, this.act);
      linearForward(xout, a.fca, W.fc2W, W.fc2B, BT, I, C);
      if (cfg.parallelResidual) for (let i = 0; i < BT * C; i++) xout[i] += xin[i] + proj[i];
      else for (let i = 0; i < BT * C; i++) xout[i] += a.mid[i];
    }
    const xL = this.resid[cfg.numLayers];
    layernormForward(
      this.lnf,
      this.lnfm,
      this.lnfr,
      xL,
      this.param(`${n.lnf}.weight`),
      this.param(`${n.lnf}.bias`),
      BT,
      C,
      cfg.normEps,
    );
    linearForward(this.logits, this.lnf, this.param(n.out), null, BT, C, V);
    const total = softmaxCrossEntropy(this.logits, this.losses, targets, BT, V);
    let count = 0;
    for (let i = 0; i < BT; i++) if (targets[i] >= 0) count++;
    this.lastB = B;
    this.lastT = T;
    this.lastTargets = targets;
    this.lastIds = ids;
    this.lastCount = count;
    return total;
  }

  /** Number of positions scored by the last forward. */
  get scoredCount(): number {
    return this.lastCount;
  }

  /** Softmax probabilities [B·T, V] of the last forward (before backward() overwrites them). */
  get probabilities(): FloatArray {
    return this.logits;
  }

  private qkvForward(W: LayerViews, a: LayerActs, BT: number, B: number, T: number): void {
    const cfg = this.config;
    const C = cfg.hiddenSize,
      NH = cfg.numHeads,
      HS = cfg.headDim;
    if (this.shape.arch === 'opt') {
      linearForward(a.q, a.ln1, W.qW!, W.qB!, BT, C, C);
      linearForward(a.k, a.ln1, W.kW!, W.kB!, BT, C, C);
      linearForward(a.v, a.ln1, W.vW!, W.vB!, BT, C, C);
      return;
    }
    linearForward(this.qkv, a.ln1, W.qkvW!, W.qkvB!, BT, C, 3 * C);
    const qkv = this.qkv;
    for (let r = 0; r < BT; r++) {
      const src = r * 3 * C;
      const dst = r * C;
      for (let h = 0; h < NH; h++) {
        for (let i = 0; i < HS; i++) {
          if (this.shape.arch === 'gpt2') {
            // [q | k | v], each C wide, head h at h·HS inside each
            a.q[dst + h * HS + i] = qkv[src + h * HS + i];
            a.k[dst + h * HS + i] = qkv[src + C + h * HS + i];
            a.v[dst + h * HS + i] = qkv[src + 2 * C + h * HS + i];
          } else {
            // GPT-NeoX: per head [q_h | k_h | v_h]
            a.q[dst + h * HS + i] = qkv[src + h * 3 * HS + i];
            a.k[dst + h * HS + i] = qkv[src + h * 3 * HS + HS + i];
            a.v[dst + h * HS + i] = qkv[src + h * 3 * HS + 2 * HS + i];
          }
        }
      }
    }
    if (this.rotary > 0) {
      rotaryApply(a.q, this.cos, this.sin, B, T, NH, HS, this.rotary, false);
      rotaryApply(a.k, this.cos, this.sin, B, T, NH, HS, this.rotary, false);
    }
  }

  private qkvBackward(W: LayerViews, G: LayerViews, a: LayerActs, BT: number, B: number, T: number): void {
    const cfg = this.config;
    const C = cfg.hiddenSize,
      NH = cfg.numHeads,
      HS = cfg.headDim;
    const dln = this.dln;
    dln.fill(0, 0, BT * C);
    if (this.shape.arch === 'opt') {
      linearBackward(dln, G.qW!, G.qB!, this.dq, a.ln1, W.qW!, BT, C, C, this.scratch);
      linearBackward(dln, G.kW!, G.kB!, this.dk, a.ln1, W.kW!, BT, C, C, this.scratch);
      linearBackward(dln, G.vW!, G.vB!, this.dv, a.ln1, W.vW!, BT, C, C, this.scratch);
      return;
    }
    if (this.rotary > 0) {
      rotaryApply(this.dq, this.cos, this.sin, B, T, NH, HS, this.rotary, true);
      rotaryApply(this.dk, this.cos, this.sin, B, T, NH, HS, this.rotary, true);
    }
    const d = this.dqkv;
    for (let r = 0; r < BT; r++) {
      const dst = r * 3 * C;
      const src = r * C;
      for (let h = 0; h < NH; h++) {
        for (let i = 0; i < HS; i++) {
          const qi = this.shape.arch === 'gpt2' ? h * HS + i : h * 3 * HS + i;
          const ki = this.shape.arch === 'gpt2' ? C + h * HS + i : h * 3 * HS + HS + i;
          const vi = this.shape.arch === 'gpt2' ? 2 * C + h * HS + i : h * 3 * HS + 2 * HS + i;
          d[dst + qi] = this.dq[src + h * HS + i];
          d[dst + ki] = this.dk[src + h * HS + i];
          d[dst + vi] = this.dv[src + h * HS + i];
        }
      }
    }
    linearBackward(dln, G.qkvW!, G.qkvB!, d, a.ln1, W.qkvW!, BT, C, 3 * C, this.scratch);
  }

  /** Clears the gradients. */
  zeroGrad(): void {
    this.grads.fill(0);
  }

  /**
   * Backward of the last forward for the loss (Σ scored losses) · lossScale, accumulating into
   * grads. lossScale = 1/count gives the gradient of the mean loss.
   */
  backward(lossScale: number): void {
    const cfg = this.config;
    const C = cfg.hiddenSize,
      V = cfg.vocabSize,
      I = cfg.intermediateSize,
      NH = cfg.numHeads,
      HS = cfg.headDim;
    const B = this.lastB,
      T = this.lastT,
      BT = B * T;
    const targets = this.lastTargets!;
    const ids = this.lastIds!;
    const n = this.names();
    crossEntropyBackward(this.logits, targets, BT, V, lossScale);
    // Head: logits = lnf · Woutᵀ
    const dlnf = this.dln;
    dlnf.fill(0, 0, BT * C);
    linearBackward(dlnf, this.grad(n.out), null, this.logits, this.lnf, this.param(n.out), BT, C, V, this.scratch);
    const dres = this.dres;
    dres.fill(0, 0, BT * C);
    layernormBackward(
      dres,
      this.grad(`${n.lnf}.weight`),
      this.grad(`${n.lnf}.bias`),
      dlnf,
      this.resid[cfg.numLayers],
      this.param(`${n.lnf}.weight`),
      this.lnfm,
      this.lnfr,
      BT,
      C,
    );
    for (let l = cfg.numLayers - 1; l >= 0; l--) {
      const W = this.L[l],
        G = this.LG[l],
        a = this.A[l];
      const xin = this.resid[l];
      const mlpIn = cfg.parallelResidual ? xin : a.mid;
      // dres: gradient w.r.t. this layer's output. dres2 collects the gradient w.r.t. the MLP's
      // input (mid, or xin for the parallel residual), starting from the residual path.
      const dmid = this.dres2;
      for (let i = 0; i < BT * C; i++) dmid[i] = dres[i];
      this.dfca.fill(0, 0, BT * I);
      linearBackward(this.dfca, G.fc2W, G.fc2B, dres, a.fca, W.fc2W, BT, I, C, this.scratch);
      this.dfch.fill(0, 0, BT * I);
      activationBackward(this.dfch, a.fch, this.dfca, BT * I, this.act);
      const dln2 = this.dln;
      dln2.fill(0, 0, BT * C);
      linearBackward(dln2, G.fc1W, G.fc1B, this.dfch, a.ln2, W.fc1W, BT, C, I, this.scratch);
      layernormBackward(dmid, G.ln2w, G.ln2b, dln2, mlpIn, W.ln2w, a.ln2m, a.ln2r, BT, C);
      // Attention branch: its output gradient is dmid (sequential) or dres (parallel).
      const dattnOut = cfg.parallelResidual ? dres : dmid;
      this.datty.fill(0, 0, BT * C);
      linearBackward(this.datty, G.projW, G.projB, dattnOut, a.atty, W.projW, BT, C, C, this.scratch);
      this.dq.fill(0, 0, BT * C);
      this.dk.fill(0, 0, BT * C);
      this.dv.fill(0, 0, BT * C);
      attentionBackward(this.dq, this.dk, this.dv, this.dpre, this.datty, a.q, a.k, a.v, a.att, B, T, NH, HS);
      this.qkvBackward(W, G, a, BT, B, T); // → this.dln = dln1
      // Gradient w.r.t. xin: the residual path (dmid already holds dres + MLP branch when parallel).
      for (let i = 0; i < BT * C; i++) dres[i] = dmid[i];
      layernormBackward(dres, G.ln1w, G.ln1b, this.dln, xin, W.ln1w, a.ln1m, a.ln1r, BT, C);
    }
    const dwte = this.grad(n.tok);
    const dwpe = n.pos ? this.grad(n.pos) : null;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const row = b * T + t;
        const o = row * C;
        const e = ids[row] * C;
        for (let i = 0; i < C; i++) dwte[e + i] += dres[o + i];
        if (dwpe) {
          const p = (t + n.posOffset) * C;
          for (let i = 0; i < C; i++) dwpe[p + i] += dres[o + i];
        }
      }
    }
  }
}
