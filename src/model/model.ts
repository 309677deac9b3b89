// A loaded model: the normalised config and every tensor the architecture needs, by checkpoint name
// (see spec.ts). A tied output matrix is the same Tensor object as the embedding it is tied to.

import type { DType } from '../tensor/dtype.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { ModelConfig } from './config.ts';

export interface LoadInfo {
  /** 'safetensors' | 'safetensors-sharded' | 'pytorch' | 'pytorch-sharded' (checkpoint/source.ts) */
  readonly format: string;
  /** Weight files read, relative to the model directory. */
  readonly files: readonly string[];
  /** Storage dtype of each tensor as found in the file (canonical names; tied ones only if stored). */
  readonly dtypes: Readonly<Record<string, DType>>;
  /**
   * Output-matrix names that are the embedding (the same Tensor object): taken from it because the
   * file lacks them (listed even when not kept, see LoadOptions.keep), or because the file stores
   * an identical copy while config.json ties them (known only when the output matrix is kept: the
   * copy has to be read to be compared).
   */
  readonly tied: readonly string[];
  /** Names in the file that were ignored (stale buffers). */
  readonly ignored: readonly string[];
}

export interface Model {
  readonly dir: string;
  readonly config: ModelConfig;
  readonly weights: ReadonlyMap<string, Tensor>;
  readonly info: LoadInfo;
}

/** A copy of `model` whose named tensors are replaced (e.g. quantised); the rest are shared. */
export function withWeights(model: Model, replacements: ReadonlyMap<string, Tensor>): Model {
  const weights = new Map(model.weights);
  for (const [name, t] of replacements) {
    if (!weights.has(name)) throw new Error(`withWeights: model has no tensor "${name}"`);
    weights.set(name, t);
  }
  return { ...model, weights };
}

/** The tensor named `name`; a missing name is a bug in the caller, not the user's input. */
export function weight(model: Model, name: string): Tensor {
  const t = model.weights.get(name);
  if (!t) throw new Error(`model has no tensor "${name}"`);
  return t;
}
