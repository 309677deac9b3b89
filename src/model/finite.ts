// The one check for NaN and ±Inf in weights. The loader (load.ts) runs it once on every tensor it
// reads, whatever the checkpoint format: the readers (checkpoint/io.ts, and pytorch.ts for a deflated
// storage) check each chunk right after reading it, while it is in the CPU cache; float16/bfloat16
// are checked after decoding to float32, where their Inf and NaN bit patterns became float32 Inf and
// NaN. The quantiser reuses it for tensors built in memory. Buffers the architecture ignores (spec.ts
// STALE_BUFFER_SUFFIXES, e.g.
// GPT-2's attn.masked_bias, which holds -1e4 or -inf) are never read, so never checked.
//
// The scan is branch-free over blocks: for finite x, x·0 is ±0, and for NaN or ±Inf it is NaN, so a
// block's sum of x·0 (four independent accumulators, so the adds pipeline) is 0 exactly when the
// block is finite; only a block that is not gets scanned element by element for the first index.
// Cost: bench/finite.ts (README, "Non-finite weights").

import { CheckpointError } from '../errors.ts';
import type { Tensor } from '../tensor/tensor.ts';

/** Values per block of the scan: small enough to stay in L1, large enough to amortise the test. */
const BLOCK = 4096;

/** Index of the first NaN or ±Inf in `data`, or −1 when every value is finite. */
export function firstNonFinite(data: Float32Array): number {
  const n = data.length;
  for (let s = 0; s < n; s += BLOCK) {
    const e = Math.min(n, s + BLOCK);
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let i = s;
    for (; i + 3 < e; i += 4) {
      a0 += data[i] * 0;
      a1 += data[i + 1] * 0;
      a2 += data[i + 2] * 0;
      a3 += data[i + 3] * 0;
    }
    for (; i < e; i++) a0 += data[i] * 0;
    // NaN !== 0, and any NaN term makes its accumulator NaN.
    if (a0 + a1 + a2 + a3 !== 0) {
      for (let j = s; j < e; j++) if (!Number.isFinite(data[j])) return j;
    }
  }
  return -1;
}

/** The row-major multi-index of flat index `i` in `shape` ([] for a scalar). */
export function unravelIndex(i: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  let rest = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = shape[d] > 0 ? rest % shape[d] : 0;
    rest = shape[d] > 0 ? Math.floor(rest / shape[d]) : 0;
  }
  return out;
}

export interface FiniteCheckContext {
  /** File that holds the tensor (prefixes the message), when it came from a file. */
  readonly file?: string;
  /** What to do about it; default: the checkpoint is damaged, download or re-export it. */
  readonly advice?: string;
}

export const DAMAGED_ADVICE =
  'the weights are damaged (an interrupted download or copy, a bad disk?) — download the checkpoint again or re-export it';

/** The one-line message for the non-finite value at flat index `i` of tensor `name`. */
export function nonFiniteMessage(name: string, t: Tensor, i: number, ctx: FiniteCheckContext = {}): string {
  const at = t.shape.length > 1 ? ` (element [${unravelIndex(i, t.shape).join(', ')}])` : '';
  return `${ctx.file ? `${ctx.file}: ` : ''}tensor "${name}" holds ${t.data[i]} at flat index ${i}${at}; ${ctx.advice ?? DAMAGED_ADVICE}`;
}

/** Throws CheckpointError naming the tensor and its first NaN or ±Inf; returns when all are finite. */
export function assertFiniteTensor(name: string, t: Tensor, ctx: FiniteCheckContext = {}): void {
  const i = firstNonFinite(t.data);
  if (i >= 0) throw new CheckpointError(nonFiniteMessage(name, t, i, ctx));
}
