// The reference engine: scores a window with the TypeScript forward pass (src/model/forward.ts).
// Exact and always available; the fallback of the fast engine. Per-token NLL in float64:
// nll[t] = logsumexp(logits[t]) − logits[t][ids[t+1]], the log-sum-exp with the maximum subtracted.
// With `wantHidden` it keeps the last block's output, and `head` reruns only the final norm and
// output matrix on it (the same functions forward() calls, so the same numbers).

import { DataError } from '../errors.ts';
import { klDivergence, logSumExp } from '../kernels/index.ts';
import { argmax, block, checkIds, embed, forward, head } from '../model/forward.ts';
import type { Model } from '../model/model.ts';
import type { Engine, HeadRequest, KlReference, ScoreRequest, ScoreResult } from './types.ts';

/** Scores one window synchronously (the engine's `score` wraps this in a promise). */
export function scoreReference(model: Model, req: ScoreRequest): ScoreResult {
  checkWindow(req.ids);
  if (!req.wantHidden) return scoreFromLogits(forward(model, req.ids), req, model.config.vocabSize);
  // forward() is exactly embed + blocks + head; stop before the head to keep its input.
  const T = req.ids.length;
  let x = embed(model, req.ids);
  for (let l = 0; l < model.config.numLayers; l++) x = block(model, l, x, T);
  const hidden = x.slice(0, T * model.config.hiddenSize); // the head gets its own copy below
  return { ...scoreFromLogits(head(model, x, T), req, model.config.vocabSize), hidden };
}

/** The head alone (final norm and output matrix) on the last block's output `req.hidden` [T, C]. */
export function headReference(model: Model, req: HeadRequest): ScoreResult {
  checkWindow(req.ids);
  checkIds(model, req.ids);
  const T = req.ids.length;
  const C = model.config.hiddenSize;
  if (req.hidden.length !== T * C) {
    throw new Error(
      `reference engine: head() got ${req.hidden.length} hidden values for a window of ${T} ids (expected ${T}×${C})`,
    );
  }
  // A copy, so that an architecture's head may work in place without touching the caller's array.
  return scoreFromLogits(head(model, req.hidden.slice(), T), req, model.config.vocabSize);
}

/** A window needs at least 2 tokens: one to condition on and one to score. */
export function checkWindow(ids: Int32Array): void {
  const T = ids.length;
  if (T < 2)
    throw new DataError(`a window of ${T} token${T === 1 ? '' : 's'} has nothing to score; give at least 2 token ids`);
}

/** Throws unless `ref` fits a window of T ids and a vocabulary of V (a caller's bug, not the user's). */
export function checkKlReference(ref: KlReference, T: number, V: number, engine: string): void {
  if (
    !(Number.isInteger(ref.from) && ref.from >= 0 && ref.from < T - 1) ||
    ref.rows.length !== (T - 1 - ref.from) * V
  ) {
    throw new Error(
      `${engine} engine: klReference of ${ref.rows.length} values from position ${ref.from} does not fit a window of ${T} ids and ${V} tokens (expected ${T - 1 - ref.from}×${V}); compare models that share a tokenizer`,
    );
  }
}

/**
 * Turns logits [T, V] of a window into NLL (float64), top-1 and, when asked, log-probabilities and
 * KL against `req.klReference` (this model's log-probabilities rounded to float32 first, as a caller
 * comparing two engines' `logProbs` would see them).
 */
export function scoreFromLogits(logits: Float32Array, req: ScoreRequest, V: number): ScoreResult {
  const ids = req.ids;
  const T = ids.length;
  const nll = new Float64Array(T - 1);
  const top1 = new Int32Array(T - 1);
  const logProbs = req.wantLogProbs ? new Float32Array((T - 1) * V) : undefined; // [T−1, V]
  const ref = req.klReference;
  if (ref) checkKlReference(ref, T, V, 'reference');
  const kl = ref ? new Float64Array(T - 1 - ref.from) : undefined;
  const row = ref ? new Float32Array(V) : undefined;
  for (let t = 0; t < T - 1; t++) {
    const r = t * V;
    const lse = logSumExp(logits, r, V);
    nll[t] = lse - logits[r + ids[t + 1]];
    top1[t] = argmax(logits, r, V);
    if (logProbs) for (let i = 0; i < V; i++) logProbs[r + i] = logits[r + i] - lse;
    if (kl && t >= ref!.from) {
      for (let i = 0; i < V; i++) row![i] = logits[r + i] - lse;
      kl[t - ref!.from] = klDivergence(ref!.rows, row!, (t - ref!.from) * V, 0, V);
    }
  }
  return { nll, top1, logProbs, logits: req.wantLogits ? logits : undefined, kl };
}

export function referenceEngine(model: Model): Engine {
  return {
    name: 'reference',
    identity: 'reference',
    hiddenWidth: model.config.hiddenSize,
    score: async (req) => scoreReference(model, req),
    head: async (req) => headReference(model, req),
    dispose: async () => {},
  };
}
