// Layer analysis: quantise one block at a time (all others full precision), or all blocks but one,
// and score each variant without recomputing what has not changed. The full-precision hidden states
// entering every block are computed once per window of token ids (embed + blocks, cached), and a
// variant whose first modified block is l starts from the cached state entering block l.
// Reference: DESIGN.md §7 (C-001 layer × language sensitivity); forward.ts guarantees that
// embed + block×L + head equals forward exactly.
//
// Usage: quantise every block once (quantizeModel with the default scope) into `q`; then for each
// plan of `layerPlans(L, mode)` build `layerEngine(fp, q, plan.quantised, cache)` and score it with the
// evaluation code like any Engine. One cache shared by all plans of a model is what saves the work.

import { createHash } from 'node:crypto';
import type { Engine, ScoreRequest, ScoreResult } from '../engine/types.ts';
import { checkWindow, scoreFromLogits } from '../engine/reference.ts';
import { block, embed, head } from '../model/forward.ts';
import type { Model } from '../model/model.ts';

export type LayerMode = 'one' | 'all-but-one';

export interface LayerPlan {
  /** e.g. "only block 3" or "all but block 3". */
  readonly label: string;
  /** The block the plan is about. */
  readonly layer: number;
  /** Blocks that run with quantised weights, ascending. */
  readonly quantised: readonly number[];
}

/** One plan per block: that block alone quantised, or every block except it. */
export function layerPlans(numLayers: number, mode: LayerMode): LayerPlan[] {
  const out: LayerPlan[] = [];
  for (let l = 0; l < numLayers; l++) {
    const quantised = mode === 'one' ? [l] : [...Array(numLayers).keys()].filter((k) => k !== l);
    out.push({ label: mode === 'one' ? `only block ${l}` : `all but block ${l}`, layer: l, quantised });
  }
  return out;
}

/**
 * Full-precision hidden states per window: states[l] [T, C] enters block l (states[L] leaves the last
 * block). Bounded by `maxBytes` (least recently used windows are dropped and recomputed if needed).
 */
export class HiddenStateCache {
  private readonly entries = new Map<string, Float32Array[]>();
  private bytes = 0;
  /** Windows computed (for tests and logs). */
  computed = 0;

  constructor(
    readonly model: Model,
    readonly maxBytes = 512 * 1024 * 1024,
  ) {}

  states(ids: Int32Array): Float32Array[] {
    const key = createHash('sha1').update(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength)).digest('hex');
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key); // refresh its place in the LRU order
      this.entries.set(key, hit);
      return hit;
    }
    const T = ids.length;
    const states: Float32Array[] = [embed(this.model, ids)];
    for (let l = 0; l < this.model.config.numLayers; l++) states.push(block(this.model, l, states[l], T));
    this.computed++;
    const size = states.reduce((a, s) => a + s.byteLength, 0);
    while (this.entries.size > 0 && this.bytes + size > this.maxBytes) {
      const [k, v] = this.entries.entries().next().value as [string, Float32Array[]];
      this.entries.delete(k);
      this.bytes -= v.reduce((a, s) => a + s.byteLength, 0);
    }
    if (size <= this.maxBytes) {
      this.entries.set(key, states);
      this.bytes += size;
    }
    return states;
  }
}

/**
 * Logits [T, V] with blocks in `quantised` taken from `q` and the rest (and embedding and head) from
 * `fp`, starting from the cached full-precision state entering the first quantised block.
 */
export function mixedLogits(fp: Model, q: Model, quantised: ReadonlySet<number>, ids: Int32Array, cache: HiddenStateCache): Float32Array {
  if (cache.model !== fp) throw new Error('mixedLogits: the cache belongs to another model');
  const L = fp.config.numLayers;
  const T = ids.length;
  const states = cache.states(ids);
  let first = L;
  for (const l of quantised) if (l < first) first = l;
  let x = states[first];
  for (let l = first; l < L; l++) x = block(quantised.has(l) ? q : fp, l, x, T);
  return head(fp, x, T);
}

/** An Engine scoring windows with the mixed model (nll float64, top1, optional log-probs / logits). */
export function layerEngine(fp: Model, q: Model, quantised: readonly number[], cache: HiddenStateCache): Engine {
  const set = new Set(quantised);
  const score = (req: ScoreRequest): ScoreResult => {
    checkWindow(req.ids);
    return scoreFromLogits(mixedLogits(fp, q, set, req.ids, cache), req, fp.config.vocabSize); // logits [T, V]
  };
  return { name: 'reference', score: async (req) => score(req), dispose: async () => {} };
}
