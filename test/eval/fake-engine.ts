// Fake engines for the evaluation tests: a bigram model (logits depend only on the current id) and
// a probe that records every window it is given. Both implement src/engine/types.ts.
import type { Engine, ScoreRequest, ScoreResult } from '../../src/engine/types.ts';
import { klDivergence } from '../../src/kernels/softmax.ts';
import { Rng } from '../../src/util/rng.ts';

/** Bigram log-probability table [V, V]: row a = log p(· | a), rows normalised in float64. */
export function bigramTable(V: number, seed: number, temperature = 1): Float32Array {
  const rng = new Rng(seed);
  const t = new Float32Array(V * V);
  for (let a = 0; a < V; a++) {
    const logits = Array.from({ length: V }, () => rng.normal() * temperature);
    const m = Math.max(...logits);
    let s = 0;
    for (const l of logits) s += Math.exp(l - m);
    const lse = m + Math.log(s);
    for (let b = 0; b < V; b++) t[a * V + b] = logits[b] - lse;
  }
  return t;
}

/** An engine over a bigram table; records the windows it was asked to score. */
export function bigramEngine(
  table: Float32Array,
  V: number,
  name: 'reference' | 'ort' = 'reference',
): Engine & { calls: Int32Array[] } {
  const calls: Int32Array[] = [];
  return {
    name,
    calls,
    async score(req: ScoreRequest): Promise<ScoreResult> {
      const ids = req.ids;
      calls.push(Int32Array.from(ids));
      const T = ids.length;
      const nll = new Float64Array(T - 1);
      const top1 = new Int32Array(T - 1);
      const logProbs = req.wantLogProbs ? new Float32Array((T - 1) * V) : undefined;
      for (let t = 0; t < T - 1; t++) {
        const row = table.subarray(ids[t] * V, ids[t] * V + V);
        nll[t] = -row[ids[t + 1]];
        let best = 0;
        for (let v = 1; v < V; v++) if (row[v] > row[best]) best = v;
        top1[t] = best;
        logProbs?.set(row, t * V);
      }
      // KL against another model's rows, as the real engines compute it (klReference).
      const ref = req.klReference;
      const kl = ref
        ? Float64Array.from({ length: T - 1 - ref.from }, (_, r) =>
            klDivergence(ref.rows, table, r * V, ids[ref.from + r] * V, V),
          )
        : undefined;
      return { nll, top1, logProbs, kl };
    },
    async dispose() {},
  };
}

/** An engine whose NLL at window position t is t+1 (reveals how much context each token had). */
export function positionEngine(): Engine & { calls: Int32Array[] } {
  const calls: Int32Array[] = [];
  return {
    name: 'reference',
    calls,
    async score(req: ScoreRequest): Promise<ScoreResult> {
      calls.push(Int32Array.from(req.ids));
      const T = req.ids.length;
      return { nll: Float64Array.from({ length: T - 1 }, (_, t) => t + 1), top1: new Int32Array(T - 1) };
    },
    async dispose() {},
  };
}
