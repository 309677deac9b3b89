// AdamW (Loshchilov & Hutter 2019, decoupled weight decay) with linear warmup and cosine decay to
// a floor, and clipping of the global gradient norm (as in GPT-2/GPT-3 training and llm.c).
// Weight decay applies to matrices and embeddings only (ParamSlot.decay), not to biases or norms.

import type { FloatArray } from './kernels.ts';
import type { ParamSlot } from './net.ts';

export interface OptimOptions {
  readonly lr: number;
  readonly steps: number;
  readonly warmupSteps: number;
  /** The learning rate at the end of the cosine, as a share of lr. */
  readonly minLrShare: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Global gradient norm above which gradients are scaled down (0 = no clipping). */
  readonly clipNorm: number;
}

export const DEFAULT_OPTIM: Omit<OptimOptions, 'lr' | 'steps' | 'warmupSteps'> = {
  minLrShare: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.1,
  clipNorm: 1.0,
};

/** Learning rate of step s (0-based): linear warmup over warmupSteps, then cosine to minLrShare·lr. */
export function learningRate(o: OptimOptions, s: number): number {
  if (s < o.warmupSteps) return (o.lr * (s + 1)) / o.warmupSteps;
  const span = Math.max(1, o.steps - o.warmupSteps);
  const p = Math.min(1, (s - o.warmupSteps) / span);
  const min = o.lr * o.minLrShare;
  return min + 0.5 * (o.lr - min) * (1 + Math.cos(Math.PI * p));
}

/** L2 norm of the whole gradient (float64 accumulation). */
export function gradNorm(grads: FloatArray): number {
  let s = 0;
  for (let i = 0; i < grads.length; i++) s += grads[i] * grads[i];
  return Math.sqrt(s);
}

export class AdamW {
  readonly m: Float32Array;
  readonly v: Float32Array;
  constructor(
    readonly opts: OptimOptions,
    readonly slots: readonly ParamSlot[],
    size: number,
  ) {
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }

  /**
   * One update at step s (0-based) of params from grads. Returns the learning rate used and the
   * gradient norm before clipping.
   */
  step(params: FloatArray, grads: FloatArray, s: number): { lr: number; gradNorm: number } {
    const o = this.opts;
    const lr = learningRate(o, s);
    const norm = gradNorm(grads);
    const clip = o.clipNorm > 0 && norm > o.clipNorm ? o.clipNorm / norm : 1;
    const b1c = 1 - Math.pow(o.beta1, s + 1);
    const b2c = 1 - Math.pow(o.beta2, s + 1);
    const { m, v } = this;
    for (const slot of this.slots) {
      const wd = slot.decay ? o.weightDecay : 0;
      const end = slot.offset + slot.size;
      for (let i = slot.offset; i < end; i++) {
        const g = grads[i] * clip;
        m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
        v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
        const mh = m[i] / b1c;
        const vh = v[i] / b2c;
        params[i] -= lr * (mh / (Math.sqrt(vh) + o.eps) + wd * params[i]);
      }
    }
    return { lr, gradNorm: norm };
  }
}
