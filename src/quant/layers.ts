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
// `layerSweep` (what C-001 uses) does the same on either engine without holding every window's
// states: each window's states are computed once and every plan is scored from them at once.

import { createHash } from 'node:crypto';
import type { Engine, ScoreRequest, ScoreResult } from '../engine/types.ts';
import { checkWindow, scoreFromLogits } from '../engine/reference.ts';
import { ortBlockRunner, type BlockLayout, type BlockRunner } from '../engine/ort/blocks.ts';
import { OrtUnavailableError } from '../engine/ort/runtime.ts';
import { block, embed, head } from '../model/forward.ts';
import { withWeights, type Model } from '../model/model.ts';
import { weightSpec } from '../model/spec.ts';
import type { Tensor } from '../tensor/tensor.ts';

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
    const key = createHash('sha1')
      .update(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength))
      .digest('hex');
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
export function mixedLogits(
  fp: Model,
  q: Model,
  quantised: ReadonlySet<number>,
  ids: Int32Array,
  cache: HiddenStateCache,
): Float32Array {
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

// ---------------------------------------------------------------- sweeps

/** `fp` with the tensors of the blocks in `quantised` taken from `q` (the rest shared, no copy). */
export function mixedModel(fp: Model, q: Model, quantised: readonly number[]): Model {
  const set = new Set(quantised);
  const repl = new Map<string, Tensor>();
  for (const s of weightSpec(fp.config)) {
    if (s.layer === undefined || !set.has(s.layer)) continue;
    const t = q.weights.get(s.name);
    if (t && t !== fp.weights.get(s.name)) repl.set(s.name, t);
  }
  return withWeights(fp, repl);
}

/** The TypeScript reference runner: HiddenStateCache for the states, the reference forward for the rest. */
export function referenceBlockRunner(fp: Model): BlockRunner {
  const L = fp.config.numLayers;
  return {
    identity: 'reference blocks',
    async states(ids) {
      checkWindow(ids);
      const T = ids.length;
      const out: Float32Array[] = [embed(fp, ids)];
      for (let l = 0; l + 1 < L; l++) out.push(block(fp, l, out[l], T));
      return out;
    },
    async finish(_key, model, from, state, ids) {
      const m = model();
      const T = ids.length;
      let x = state;
      for (let l = from; l < L; l++) x = block(m, l, x, T);
      return scoreFromLogits(head(m, x, T), { ids }, fp.config.vocabSize);
    },
    sessionsCreated: () => 0,
    async dispose() {},
  };
}

export interface SweepOptions {
  /** 'ort', 'reference', or 'auto' (ort when onnxruntime loads). */
  readonly engine: 'ort' | 'reference' | 'auto';
  /** The ort graphs' layout (blocks.ts); default 'split'. */
  readonly layout?: BlockLayout;
  readonly threads?: number;
}

export interface LayerSweep {
  /** One engine per plan, in the order of the plans: score windows of that variant. */
  readonly engines: readonly Engine[];
  /** Windows whose full-precision states were computed (one per distinct window and time it was needed). */
  readonly statesComputed: () => number;
  dispose(): Promise<void>;
}

/**
 * Engines for every plan of a layer scan that share their work: the first time any plan's engine
 * sees a window, the full-precision states entering every block are computed once and every plan
 * is scored from the state entering its first quantised block; the other plans' results wait (NLL
 * and top-1 only, T−1 numbers each) until their engine asks for that window. Each window is its own
 * forward, as sliding-window scoring requires; results are keyed by the window's token ids.
 * `q` holds the quantised blocks (e.g. every block quantised once); a plan's model is `fp` with its
 * blocks taken from `q`. Logits and log-probabilities are not offered (the scan needs neither).
 */
export async function layerSweep(
  fp: Model,
  q: Model,
  plans: readonly LayerPlan[],
  opts: SweepOptions,
): Promise<LayerSweep> {
  let runner: BlockRunner = referenceBlockRunner(fp);
  let name: Engine['name'] = 'reference';
  if (opts.engine !== 'reference') {
    try {
      runner = await ortBlockRunner(fp, { layout: opts.layout, threads: opts.threads });
      name = 'ort';
    } catch (e) {
      if (!(opts.engine === 'auto' && e instanceof OrtUnavailableError)) throw e;
    }
  }
  const models = plans.map((p) => {
    let m: Model | undefined;
    return () => (m ??= mixedModel(fp, q, p.quantised));
  });
  const keys = plans.map((p) => p.quantised.join(','));
  const firsts = plans.map((p) => Math.min(fp.config.numLayers, ...p.quantised));
  const pending = new Map<string, (ScoreResult | null)[]>();
  let computed = 0;

  async function sweep(ids: Int32Array): Promise<(ScoreResult | null)[]> {
    const states = await runner.states(ids);
    computed++;
    const out: (ScoreResult | null)[] = [];
    for (let i = 0; i < plans.length; i++) {
      const from = firsts[i];
      if (from >= fp.config.numLayers) throw new Error(`layerSweep: plan "${plans[i].label}" quantises no block`);
      out.push(await runner.finish(keys[i], models[i], from, states[from], ids));
    }
    return out;
  }

  const engines = plans.map((_, i): Engine => ({
    name,
    // Its own numbers (the runner's graphs, not the plain engine's), so kept apart in caches.
    identity: `layer sweep: ${runner.identity}`,
    async score(req: ScoreRequest): Promise<ScoreResult> {
      if (req.wantLogits || req.wantLogProbs) throw new Error('layerSweep: the sweep engines give NLL and top-1 only');
      const key = windowKey(req.ids);
      let row = pending.get(key);
      if (!row || row[i] === null) pending.set(key, (row = await sweep(req.ids)));
      const r = row[i]!;
      row[i] = null;
      if (row.every((x) => x === null)) pending.delete(key);
      return r;
    },
    async dispose() {},
  }));
  return { engines, statesComputed: () => computed, dispose: () => runner.dispose() };
}

function windowKey(ids: Int32Array): string {
  return createHash('sha1')
    .update(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength))
    .digest('hex');
}
