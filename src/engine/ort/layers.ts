// The pieces every architecture's ONNX graph is made of: linear layers (Gemm), norms, activations,
// rotary embedding, ALiBi and causal multi-head / grouped-query attention, over standard ONNX ops
// (opset 20) and, for attention, onnxruntime's com.microsoft fused kernels. Activations are 2-D
// [T, C] throughout (batch 1, no padding), so every linear is a Gemm whose transB follows the
// weight's storage layout and whose bias is fused.
// References: ONNX operator docs (https://onnx.ai/onnx/operators/); the architecture notes in
// test/fixtures/golden/README.md; Su et al. 2021 (RoPE, rotate-half convention as in GPT-NeoX and
// Llama); Press et al. 2022 (ALiBi, slopes as in BLOOM's build_alibi_tensor).

import type { Activation } from '../../model/config.ts';
import type { Model } from '../../model/model.ts';
import { weight } from '../../model/model.ts';
import type { TensorSpec } from '../../model/spec.ts';
import { MS_DOMAIN, type GraphBuilder } from './graph.ts';
import { DataType, type AttrValue } from './proto.ts';

/** What every block of one body graph shares. */
export interface BodyCtx {
  readonly b: GraphBuilder;
  readonly model: Model;
  readonly specs: ReadonlyMap<string, TensorSpec>;
  /** int64 [T]: 0..T−1. */
  readonly pos: string;
  /**
   * float [T, T]: 0 where query i may read key j (j ≤ i, and i − j ≤ window when one is given),
   * −∞ elsewhere (built on first use, one per window).
   */
  readonly mask: (window?: number) => string;
  /** Use onnxruntime's fused attention kernels (com.microsoft) where they apply. */
  readonly fused: boolean;
  /**
   * Called with the hidden state [T, C] entering each block; what it returns enters the block instead
   * (block-range graphs replace it with a graph input, or declare it an output). Default: unchanged.
   */
  readonly enter?: (layer: number, x: string) => string;
  /** Called with each linear layer's weight name and its input [T, in] (calibration graphs tap it). */
  readonly onLinearInput?: (name: string, x: string) => void;
}

/** The hidden state entering block `layer`, through the context's `enter` hook when it has one. */
export function enterBlock(ctx: BodyCtx, layer: number, x: string): string {
  return ctx.enter ? ctx.enter(layer, x) : x;
}

/** Positions and the causal mask from the input's first dimension (T is dynamic). */
export function prelude(b: GraphBuilder, x: string): { pos: string; mask: (window?: number) => string } {
  const shape = b.node('Shape', [x]); // int64 [2]
  const T = b.node('Gather', [shape, b.constant([0], [], DataType.INT64, 'zero_i64')], { axis: { i: 0 } }); // int64 scalar
  const zero = b.constant([0], [], DataType.INT64, 'zero_i64');
  const one = b.constant([1], [], DataType.INT64, 'one_i64');
  const pos = b.node('Range', [zero, T, one]); // [T]
  const masks = new Map<number, string>();
  // Only the standard-op attention needs it; the fused kernels are causal by themselves.
  const getMask = (window = Infinity) => {
    const made = masks.get(window);
    if (made) return made;
    const row = b.node('Unsqueeze', [pos, b.i64([1])]); // [T, 1]
    const col = b.node('Unsqueeze', [pos, b.i64([0])]); // [1, T]
    let hidden = b.node('Greater', [col, row]); // [T, T] bool: key after query
    if (Number.isFinite(window)) {
      // key more than `window` positions back: i − j > W (transformers v4.40 keeps W + 1 keys)
      const far = b.node('Greater', [
        b.node('Sub', [row, col]),
        b.constant([window], [], DataType.INT64, `window_${window}`),
      ]);
      hidden = b.node('Or', [hidden, far]);
    }
    const mask = b.node('Where', [hidden, b.scalarF(-Infinity, 'neg_inf'), b.scalarF(0, 'zero_f')]);
    masks.set(window, mask);
    return mask;
  };
  return { pos, mask: getMask };
}

/** The named model weight as an initialiser. */
export function w(ctx: BodyCtx, name: string): string {
  return ctx.b.weight(weight(ctx.model, name), name);
}

/** y = x·W (+ b) for the linear layer `prefix` (`prefix.weight`, optional `prefix.bias`): [T, in] → [T, out]. */
export function linear(ctx: BodyCtx, x: string, prefix: string): string {
  const name = `${prefix}.weight`;
  const spec = ctx.specs.get(name);
  if (!spec?.layout) throw new Error(`ort graph: ${name} is not a 2-D matmul weight`);
  ctx.onLinearInput?.(name, x);
  const inputs = [x, w(ctx, name)];
  if (ctx.model.weights.has(`${prefix}.bias`)) inputs.push(w(ctx, `${prefix}.bias`));
  // [in, out] (GPT-2 Conv1D) is used as stored; [out, in] (nn.Linear) is used transposed.
  return ctx.b.node('Gemm', inputs, { transB: { i: spec.layout === 'out_in' ? 1 : 0 } });
}

/** LayerNorm over the last axis with the biased variance (prefix.weight, prefix.bias). */
export function layerNorm(ctx: BodyCtx, x: string, prefix: string): string {
  const eps = ctx.model.config.normEps;
  return ctx.b.node('LayerNormalization', [x, w(ctx, `${prefix}.weight`), w(ctx, `${prefix}.bias`)], {
    axis: { i: -1 },
    epsilon: { f: eps },
  });
}

/** RMSNorm (Llama): x / √(mean(x²) + eps) · g, with g = offset + w when the config stores an offset (Gemma: 1 + w). */
export function rmsNorm(ctx: BodyCtx, x: string, prefix: string): string {
  const b = ctx.b;
  const { normEps, normGainOffset } = ctx.model.config;
  const sq = b.node('Mul', [x, x]);
  const ms = b.node('ReduceMean', [sq, b.i64([-1])], { keepdims: { i: 1 } }); // [T, 1]
  const rms = b.node('Sqrt', [b.node('Add', [ms, b.scalarF(normEps, 'eps')])]);
  let g = w(ctx, `${prefix}.weight`);
  if (normGainOffset !== 0) g = b.node('Add', [g, b.scalarF(normGainOffset, 'norm_gain_offset')]);
  return b.node('Mul', [b.node('Div', [x, rms]), g]);
}

export function activation(b: GraphBuilder, x: string, act: Activation): string {
  switch (act) {
    case 'gelu_tanh':
      return b.node('Gelu', [x], { approximate: { s: 'tanh' } });
    case 'gelu_erf':
      return b.node('Gelu', [x]);
    case 'relu':
      return b.node('Relu', [x]);
    case 'silu':
      return b.node('Mul', [x, b.node('Sigmoid', [x])]);
    case 'quick_gelu':
      return b.node('Mul', [x, b.node('Sigmoid', [b.node('Mul', [x, b.scalarF(1.702, 'quick_gelu_k')])])]);
  }
}

/** [T, H·HS] → [H, T, HS]. */
export function toHeads(b: GraphBuilder, x: string, heads: number, headDim: number): string {
  return b.node('Transpose', [splitHeads(b, x, heads, headDim)], { perm: { ints: [1, 0, 2] } });
}

/**
 * A fused QKV output whose columns are interleaved per head ([T, H, 3, HS] in GPT-NeoX and BLOOM)
 * → q, k, v, each [T, H, HS].
 */
export function splitInterleavedQkv(
  b: GraphBuilder,
  qkv: string,
  heads: number,
  headDim: number,
): [string, string, string] {
  const r = b.node('Reshape', [qkv, b.i64([-1, heads, 3 * headDim])]); // [T, H, 3·HS]
  const [q, k, v] = b.nodeN('Split', [r, b.i64([headDim, headDim, headDim])], 3, { axis: { i: 2 } });
  return [q, k, v];
}

/** [T, H·HS] → [T, H, HS]. */
export function splitHeads(b: GraphBuilder, x: string, heads: number, headDim: number): string {
  return b.node('Reshape', [x, b.i64([-1, heads, headDim])]);
}

/** [T, H, HS] → [T, H·HS]. */
export function mergeHeads(b: GraphBuilder, x: string): string {
  return b.node('Reshape', [x, b.i64([0, -1])]);
}

/** cos and signed sin tables for rotary embedding over the first R dims of each head. */
export interface Rotary {
  readonly dims: number;
  /** float [T, 1, R]: cos(pos·θ) for [θ | θ]. */
  readonly cos: string;
  /** float [T, 1, R]: [−sin(pos·θ) | +sin(pos·θ)], so rotate_half(x)·sin = swap_halves(x)·sinSigned. */
  readonly sinSigned: string;
}

/**
 * The rotary tables for positions 0..T−1, as transformers computes them in float32:
 * inv_freq[m] = 1 / base^(2m/R), angle = pos · inv_freq[m], then cos and sin of the angle.
 */
export function rotaryTables(ctx: BodyCtx, dims: number, base: number): Rotary {
  const b = ctx.b;
  const half = dims / 2;
  const invFreq = new Float32Array(half);
  for (let m = 0; m < half; m++) invFreq[m] = 1 / Math.fround(Math.pow(base, Math.fround((2 * m) / dims)));
  const posF = b.node('Unsqueeze', [b.node('Cast', [ctx.pos], { to: { i: DataType.FLOAT } }), b.i64([1])]); // [T, 1]
  const freqs = b.node('Mul', [posF, b.constant(invFreq, [1, half], DataType.FLOAT, 'inv_freq')]); // [T, R/2]
  const cosH = b.node('Cos', [freqs]);
  const sinH = b.node('Sin', [freqs]);
  const perHead = (x: string) => b.node('Unsqueeze', [x, b.i64([1])]); // [T, 1, R]: broadcast over heads
  const cos = perHead(b.node('Concat', [cosH, cosH], { axis: { i: 1 } }));
  const sinSigned = perHead(b.node('Concat', [b.node('Neg', [sinH]), sinH], { axis: { i: 1 } }));
  return { dims, cos, sinSigned };
}

/** Applies rotary embedding to the first R dims of every head of x [T, H, HS]. */
export function applyRotary(b: GraphBuilder, x: string, rot: Rotary, headDim: number): string {
  const R = rot.dims;
  const xr = R === headDim ? x : b.node('Slice', [x, b.i64([0]), b.i64([R]), b.i64([2])]); // [T, H, R]
  const [x1, x2] = b.nodeN('Split', [xr, b.i64([R / 2, R / 2])], 2, { axis: { i: 2 } });
  const swapped = b.node('Concat', [x2, x1], { axis: { i: 2 } });
  const rotated = b.node('Add', [b.node('Mul', [xr, rot.cos]), b.node('Mul', [swapped, rot.sinSigned])]);
  if (R === headDim) return rotated;
  const pass = b.node('Slice', [x, b.i64([R]), b.i64([headDim]), b.i64([2])]); // [T, H, HS − R]
  return b.node('Concat', [rotated, pass], { axis: { i: 2 } });
}

/** BLOOM's ALiBi slopes for n heads (float32, as build_alibi_tensor computes them). */
export function alibiSlopes(n: number): Float32Array {
  const cp = 2 ** Math.floor(Math.log2(n));
  const base = Math.fround(2 ** -(2 ** -(Math.log2(cp) - 3)));
  const out = new Float32Array(n);
  for (let k = 1; k <= cp; k++) out[k - 1] = Math.pow(base, k);
  if (cp < n) {
    const extraBase = Math.fround(2 ** -(2 ** -(Math.log2(2 * cp) - 3)));
    for (let i = 0, k = 1; cp + i < n; i++, k += 2) out[cp + i] = Math.pow(extraBase, k);
  }
  return out;
}

/** float [H, 1, T]: slope_h · j, added to the scores of every query row. */
export function alibiBias(ctx: BodyCtx, heads: number): string {
  const b = ctx.b;
  const posF = b.node('Reshape', [b.node('Cast', [ctx.pos], { to: { i: DataType.FLOAT } }), b.i64([1, 1, -1])]); // [1, 1, T]
  return b.node('Mul', [b.constant(alibiSlopes(heads), [heads, 1, 1], DataType.FLOAT, 'alibi_slopes'), posF]);
}

/**
 * Causal softmax attention over standard ops. q [H, T, HS] already scaled by 1/√HS; k, v
 * [KV, T, HS] with H a multiple of KV (query head j reads kv head ⌊j / (H/KV)⌋); optional additive
 * bias [H, 1, T] (ALiBi); keys beyond the sliding window (i − j > window) masked out. Materialises
 * the [H, T, T] scores. Returns [T, H·HS].
 */
function unfusedAttention(
  ctx: BodyCtx,
  q: string,
  k: string,
  v: string,
  heads: number,
  kvHeads: number,
  headDim: number,
  bias: string | undefined,
  window: number,
): string {
  const b = ctx.b;
  const kt = b.node('Transpose', [k], { perm: { ints: [0, 2, 1] } }); // [KV, HS, T]
  let out: string;
  if (kvHeads === heads) {
    let s = b.node('MatMul', [q, kt]); // [H, T, T]
    if (bias) s = b.node('Add', [s, bias]);
    const p = b.node('Softmax', [b.node('Add', [s, ctx.mask(window)])], { axis: { i: -1 } });
    out = b.node('MatMul', [p, v]); // [H, T, HS]
  } else {
    // Grouped-query: the H/KV query heads of one kv head are consecutive, so [H, T, HS] viewed as
    // [KV, (H/KV)·T, HS] multiplies each kv head's keys once, without repeating k and v.
    const qg = b.node('Reshape', [q, b.i64([kvHeads, -1, headDim])]); // [KV, (H/KV)·T, HS]
    let s = b.node('Reshape', [b.node('MatMul', [qg, kt]), b.i64([heads, -1, 0])]); // [H, T, T]
    if (bias) s = b.node('Add', [s, bias]);
    const p = b.node('Softmax', [b.node('Add', [s, ctx.mask(window)])], { axis: { i: -1 } });
    const pg = b.node('Reshape', [p, b.i64([kvHeads, -1, 0])]); // [KV, (H/KV)·T, T]
    out = b.node('Reshape', [b.node('MatMul', [pg, v]), b.i64([heads, -1, headDim])]); // [H, T, HS]
  }
  const t = b.node('Transpose', [out], { perm: { ints: [1, 0, 2] } }); // [T, H, HS]
  return b.node('Reshape', [t, b.i64([-1, heads * headDim])]);
}

export interface AttentionShape {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** float [H, 1, T] added to every query row's scores (ALiBi). */
  readonly bias?: string;
  /** Sliding window: query i reads keys i − window..i (window + 1 keys, transformers v4.40). */
  readonly window?: number | null;
}

/**
 * Causal attention. q [T, H·HS], k and v [T, KV·HS], heads contiguous, q not yet scaled (scale
 * 1/√HS). With ctx.fused and no bias this is onnxruntime's com.microsoft MultiHeadAttention
 * (unidirectional; H = KV, no window) or GroupQueryAttention (H > KV, or a sliding window: its
 * local_window_size W + 1 keeps keys i − W..i, the W + 1 keys of transformers v4.40), which never hold
 * every head's [T, T] scores at once; otherwise standard ops. Returns [T, H·HS].
 */
export function causalAttention(ctx: BodyCtx, q: string, k: string, v: string, a: AttentionShape): string {
  const b = ctx.b;
  const { heads, kvHeads, headDim } = a;
  const window = a.window ?? Infinity;
  const sc = 1 / Math.sqrt(headDim);
  if (ctx.fused && !a.bias) {
    const batch = (x: string) => b.node('Unsqueeze', [x, b.i64([0])]); // [1, T, ·]
    let o: string;
    if (kvHeads === heads && !Number.isFinite(window)) {
      o = b.node(
        'MultiHeadAttention',
        [batch(q), batch(k), batch(v)],
        { num_heads: { i: heads }, unidirectional: { i: 1 }, scale: { f: sc } },
        MS_DOMAIN,
      );
    } else {
      // No past: seqlens_k = T − 1 and total_sequence_length = T (int32), causal by definition.
      const T = b.node('Cast', [b.node('Shape', [q], { start: { i: 0 }, end: { i: 1 } })], {
        to: { i: DataType.INT32 },
      }); // [1]
      const seqlensK = b.node('Sub', [T, b.constant([1], [1], DataType.INT32, 'one_i32')]); // [1]
      const total = b.node('Squeeze', [T]); // scalar
      const attrs: Record<string, AttrValue> = {
        num_heads: { i: heads },
        kv_num_heads: { i: kvHeads },
        scale: { f: sc },
      };
      // onnxruntime's local_window_size counts the keys read, the query's own included (measured
      // against the reference engine on mistral-a: W + 1 matches, W and W + 2 do not)
      if (Number.isFinite(window)) attrs['local_window_size'] = { i: window + 1 };
      o = b.node('GroupQueryAttention', [batch(q), batch(k), batch(v), '', '', seqlensK, total], attrs, MS_DOMAIN);
    }
    return b.node('Reshape', [o, b.i64([-1, heads * headDim])]);
  }
  const qh = toHeads(b, scale(b, q, sc), heads, headDim); // [H, T, HS]
  return unfusedAttention(
    ctx,
    qh,
    toHeads(b, k, kvHeads, headDim),
    toHeads(b, v, kvHeads, headDim),
    heads,
    kvHeads,
    headDim,
    a.bias,
    window,
  );
}

/** x · s for a float scalar s. */
export function scale(b: GraphBuilder, x: string, s: number): string {
  return b.node('Mul', [x, b.scalarF(s, 'scale')]);
}

export function add(b: GraphBuilder, x: string, y: string): string {
  return b.node('Add', [x, y]);
}
