// The reference forward pass of a loaded model: token ids → logits, in float32 over the shared
// kernels, one file per architecture in ./arch (each follows transformers v4.40's modeling code;
// the details that decide correctness are in test/fixtures/golden/README.md).
// `embed` + `block` × L + `head` is exactly `forward` (layer analysis reuses the hidden states that
// enter a block); `greedy` decodes without a cache by re-running the prefix.

import { DataError } from '../errors.ts';
import { bloom } from './arch/bloom.ts';
import type { Arch } from './arch/common.ts';
import { gpt2 } from './arch/gpt2.ts';
import { gptNeox } from './arch/gpt_neox.ts';
import { llama } from './arch/llama.ts';
import { opt } from './arch/opt.ts';
import { xglm } from './arch/xglm.ts';
import type { ArchName } from './config.ts';
import type { Model } from './model.ts';

export interface ForwardHooks {
  /**
   * input activations [T, inDim] of each block linear weight, by its checkpoint name (calibration).
   * Called before the matmul with the exact input it reads (q, k and v projections that share an
   * input each get a call). `x` is not modified afterwards by the forward pass; copy it to keep it
   * beyond the next call only if you must not share it.
   */
  onLinearInput?(name: string, x: Float32Array, T: number, inDim: number): void;
}

// Qwen2, Mistral and Gemma run Llama's block; their differences are config fields (arch/llama.ts).
const ARCHS: Record<ArchName, Arch> = {
  gpt2,
  opt,
  gpt_neox: gptNeox,
  llama,
  bloom,
  qwen2: llama,
  mistral: llama,
  gemma: llama,
  xglm,
};

function archOf(model: Model): Arch {
  return ARCHS[model.config.arch];
}

/** Throws a DataError for an empty sequence, an id outside [0, V) or more tokens than positions. */
export function checkIds(model: Model, ids: Int32Array): void {
  const { vocabSize: V, maxPositions } = model.config;
  if (ids.length === 0) throw new DataError('the token sequence is empty; give at least one token id');
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    if (id < 0 || id >= V) {
      throw new DataError(
        `token id ${id} at position ${t} is outside this model's vocabulary [0, ${V}); use ids from the tokenizer of this model`,
      );
    }
  }
  if (maxPositions !== null && ids.length > maxPositions) {
    throw new DataError(
      `a sequence of ${ids.length} tokens reaches position ${ids.length - 1}, beyond this model's ${maxPositions} positions (0..${maxPositions - 1}); split it into windows of at most ${maxPositions} tokens (--context ${maxPositions})`,
    );
  }
}

/** Embedding of ids [T] → hidden states [T, C] entering block 0. */
export function embed(model: Model, ids: Int32Array): Float32Array {
  checkIds(model, ids);
  return archOf(model).embed(model, ids);
}

/** Block `layer` (0-based): x [T, C] → a new [T, C] array; x is left unchanged. */
export function block(model: Model, layer: number, x: Float32Array, T: number, hooks?: ForwardHooks): Float32Array {
  const { numLayers, hiddenSize: C } = model.config;
  if (!Number.isInteger(layer) || layer < 0 || layer >= numLayers)
    throw new Error(`block: layer ${layer} is outside 0..${numLayers - 1}`);
  if (x.length < T * C) throw new Error(`block: x holds ${x.length} values, fewer than ${T}×${C}`);
  return archOf(model).block(model, layer, x, T, hooks);
}

/** Final norm and output matrix: x [T, C] leaving the last block → logits [T, V]. */
export function head(model: Model, x: Float32Array, T: number): Float32Array {
  const C = model.config.hiddenSize;
  if (x.length < T * C) throw new Error(`head: x holds ${x.length} values, fewer than ${T}×${C}`);
  return archOf(model).head(model, x, T);
}

/** Logits [T, V] for ids [T] (batch 1, positions 0..T−1, no padding). */
export function forward(model: Model, ids: Int32Array, hooks?: ForwardHooks): Float32Array {
  const T = ids.length;
  let x = embed(model, ids);
  for (let l = 0; l < model.config.numLayers; l++) x = block(model, l, x, T, hooks);
  return head(model, x, T);
}

/** Index of the largest of row[offset..offset+n) (the first on ties; a NaN is never preferred to a number). */
export function argmax(row: Float32Array, offset: number, n: number): number {
  let best = 0;
  let bestV = row[offset];
  for (let i = 1; i < n; i++) {
    const v = row[offset + i];
    if (v > bestV || (Number.isNaN(bestV) && !Number.isNaN(v))) {
      best = i;
      bestV = v;
    }
  }
  return best;
}

/** n greedy tokens after `prompt` (argmax of the last position, the prefix re-run each step). */
export function greedy(model: Model, prompt: Int32Array, n: number): Int32Array {
  const { numLayers, hiddenSize: C, vocabSize: V } = model.config;
  const seq = new Int32Array(prompt.length + n);
  seq.set(prompt);
  for (let s = 0; s < n; s++) {
    const T = prompt.length + s;
    const ids = seq.subarray(0, T);
    let x = embed(model, ids);
    for (let l = 0; l < numLayers; l++) x = block(model, l, x, T, undefined);
    // only the last position's logits are needed: the head is row-wise
    const logits = head(model, x.subarray((T - 1) * C, T * C), 1);
    seq[T] = argmax(logits, 0, V);
  }
  return seq.slice(prompt.length);
}
