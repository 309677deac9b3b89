// Pieces every architecture file shares: the interface an architecture implements, and thin
// allocating wrappers over the kernels (src/kernels) that read weights by checkpoint name.
// Shapes: T tokens, C hidden width, NH query heads, NKV key/value heads, HS head width.

import {
  activate,
  alibiSlopes,
  applyRotary,
  causalAttention,
  layerNorm,
  matmul,
  rmsNorm,
  rotaryTables,
  type Layout,
} from '../../kernels/index.ts';
import type { ForwardHooks } from '../forward.ts';
import { weight, type Model } from '../model.ts';

/** One architecture's forward pass, split where layer analysis needs the hidden states. */
export interface Arch {
  /** Token (and learned position) embedding: ids [T] → x [T, C]. Ids are already validated. */
  embed(model: Model, ids: Int32Array): Float32Array;
  /** Block `layer`: x [T, C] → a new [T, C] array (x is not modified). */
  block(model: Model, layer: number, x: Float32Array, T: number, hooks?: ForwardHooks): Float32Array;
  /** Final norm and output matrix: x [T, C] → logits [T, V]. */
  head(model: Model, x: Float32Array, T: number): Float32Array;
}

/** The data of the tensor named `name` (checkpoint name, see src/model/spec.ts). */
export function w(model: Model, name: string): Float32Array {
  return weight(model, name).data;
}

/**
 * y[T, outDim] = x[T, inDim] · W + b for the linear layer `name` (without `.weight`), with the
 * weight's storage layout; reports x to `hooks.onLinearInput` under the weight's checkpoint name.
 */
export function linear(
  model: Model,
  name: string,
  x: Float32Array,
  T: number,
  inDim: number,
  outDim: number,
  layout: Layout,
  hasBias: boolean,
  hooks?: ForwardHooks,
): Float32Array {
  hooks?.onLinearInput?.(`${name}.weight`, x, T, inDim);
  const out = new Float32Array(T * outDim);
  matmul(out, x, w(model, `${name}.weight`), hasBias ? w(model, `${name}.bias`) : null, T, inDim, outDim, layout);
  return out;
}

/** The config's norm (LayerNorm with bias, or RMSNorm) named `name` over x [T, C], into a new array. */
export function norm(model: Model, name: string, x: Float32Array, T: number, C: number): Float32Array {
  const cfg = model.config;
  const out = new Float32Array(T * C);
  if (cfg.norm === 'rmsnorm') rmsNorm(out, x, w(model, `${name}.weight`), T, C, cfg.normEps, cfg.normGainOffset);
  else layerNorm(out, x, w(model, `${name}.weight`), w(model, `${name}.bias`), T, C, cfg.normEps);
  return out;
}

/** a[n] += b[n]. */
export function addInPlace(a: Float32Array, b: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) a[i] += b[i];
}

/** a[n] + b[n] into a new array. */
export function sum(a: Float32Array, b: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
  return out;
}

/** The config's activation over x[n], in place. */
export function act(model: Model, x: Float32Array, n: number): void {
  activate(model.config.activation, x, x, n);
}

/** Rows ids[t] of table [V, width] → [T, width]. */
export function gatherRows(table: Float32Array, ids: Int32Array, width: number): Float32Array {
  const out = new Float32Array(ids.length * width);
  for (let t = 0; t < ids.length; t++) out.set(table.subarray(ids[t] * width, ids[t] * width + width), t * width);
  return out;
}

/**
 * Splits a fused QKV projection whose output is interleaved per head — viewed [T, NH, 3, HS], head h
 * holding [q_h | k_h | v_h] (GPT-NeoX, BLOOM) — into q, k, v, each [T, NH·HS].
 */
export function splitPerHeadQkv(
  qkv: Float32Array,
  T: number,
  NH: number,
  HS: number,
): { q: Float32Array; k: Float32Array; v: Float32Array } {
  const W = NH * HS;
  const q = new Float32Array(T * W);
  const k = new Float32Array(T * W);
  const v = new Float32Array(T * W);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < NH; h++) {
      const src = t * 3 * W + h * 3 * HS;
      const dst = t * W + h * HS;
      q.set(qkv.subarray(src, src + HS), dst);
      k.set(qkv.subarray(src + HS, src + 2 * HS), dst);
      v.set(qkv.subarray(src + 2 * HS, src + 3 * HS), dst);
    }
  }
  return { q, k, v };
}

/** Splits [T, 3C] whose columns are [q | k | v] (GPT-2 c_attn) into q, k, v, each [T, C]. */
export function splitBlockQkv(
  qkv: Float32Array,
  T: number,
  C: number,
): { q: Float32Array; k: Float32Array; v: Float32Array } {
  const q = new Float32Array(T * C);
  const k = new Float32Array(T * C);
  const v = new Float32Array(T * C);
  for (let t = 0; t < T; t++) {
    const src = t * 3 * C;
    q.set(qkv.subarray(src, src + C), t * C);
    k.set(qkv.subarray(src + C, src + 2 * C), t * C);
    v.set(qkv.subarray(src + 2 * C, src + 3 * C), t * C);
  }
  return { q, k, v };
}

/** Rotary embedding on the first cfg.rotaryDims dims of every head of q [T, NH·HS] and k [T, NKV·HS], in place. */
export function rotate(model: Model, q: Float32Array, k: Float32Array, T: number): void {
  const cfg = model.config;
  const R = cfg.rotaryDims;
  if (R === 0) return;
  const cos = new Float32Array(T * (R / 2));
  const sin = new Float32Array(T * (R / 2));
  rotaryTables(cos, sin, T, R, cfg.rotaryBase);
  applyRotary(q, cos, sin, T, cfg.numHeads, cfg.headDim, R);
  applyRotary(k, cos, sin, T, cfg.numKvHeads, cfg.headDim, R);
}

/** Causal attention of the config's heads (and sliding window): q [T, NH·HS], k/v [T, NKV·HS] → [T, NH·HS]. */
export function attend(
  model: Model,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  T: number,
  scale: number,
  alibi = false,
): Float32Array {
  const cfg = model.config;
  const out = new Float32Array(T * cfg.numHeads * cfg.headDim);
  const scratch = new Float64Array(T);
  let slopes: Float32Array | null = null;
  if (alibi) {
    slopes = new Float32Array(cfg.numHeads);
    alibiSlopes(slopes, cfg.numHeads);
  }
  causalAttention(
    out,
    q,
    k,
    v,
    scratch,
    T,
    cfg.numHeads,
    cfg.numKvHeads,
    cfg.headDim,
    scale,
    slopes,
    cfg.slidingWindow ?? Infinity,
  );
  return out;
}
