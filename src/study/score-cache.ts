// The study's use of the run folder's per-unit score cache (src/eval/score-cache.ts): one cache object
// per replicate (from KindContext.scoreCacheDir; none with `langquant run --no-score-cache`), the
// fingerprint of a model as scored — the model folder's content hash for a full-precision model, a
// hash of every weight for a treated (quantised, preserved, GPTQ/AWQ) copy — and the one log line per
// replicate saying what the cache saved.
// Which engine scores which model is remembered here (openModel and engineFor register them), so that
// compareUnits and scoreUnits find the cache without every kind passing it along.
// Reference: issue 17 "Score each unit once".

import { createHash } from 'node:crypto';
import type { Engine } from '../engine/types.ts';
import { ScoreCache } from '../eval/score-cache.ts';
import type { Model } from '../model/model.ts';
import type { Kind, KindContext } from '../pipeline/kind.ts';

const caches = new WeakMap<object, ScoreCache | null>();

/** The replicate's score cache (one object per context, so its counters cover the replicate), or null. */
export function scoreCacheOf(ctx: Partial<Pick<KindContext<unknown>, 'scoreCacheDir'>>): ScoreCache | null {
  if (!caches.has(ctx)) caches.set(ctx, ctx.scoreCacheDir ? new ScoreCache(ctx.scoreCacheDir) : null);
  return caches.get(ctx)!;
}

const treatedKeys = new WeakMap<Model, string>();

/**
 * The fingerprint of a treated copy of the model fingerprinted `baseKey`: SHA-256 over the base's
 * fingerprint (config, tokenizer) and every weight's name, shape and bytes, in name order. Whatever
 * made the weights (method, bits, preserved share, calibration text, seed), the same weights get the
 * same key and different weights a different one. About 1 s per 500 MB of weights.
 */
export function treatedModelKey(baseKey: string, model: Model): string {
  const memo = treatedKeys.get(model);
  if (memo !== undefined && memo.startsWith(`${baseKey}:`)) return memo.slice(baseKey.length + 1);
  const h = createHash('sha256').update(`treated-v1\0${baseKey}\0`);
  for (const name of [...model.weights.keys()].sort()) {
    const t = model.weights.get(name)!;
    h.update(`${name}\0${t.shape.join('x')}\0`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  const key = h.digest('hex');
  treatedKeys.set(model, `${baseKey}:${key}`);
  return key;
}

/** What the cache needs to know of the model an engine scores. */
export interface ScoredModel {
  readonly cache: ScoreCache;
  /** The fingerprint of the model as scored (computed on first use for a treated copy). */
  readonly key: () => string;
  readonly tokenizer: string;
  readonly bos: number | null;
}

const engines = new WeakMap<Engine, ScoredModel>();

/** Remembers that `engine` scores the model described by `s` (no-op without a cache). */
export function registerEngine(engine: Engine, s: ScoredModel | null): void {
  if (s) engines.set(engine, s);
}

/** The model an engine scores, when it was registered with a cache. */
export function scoredModelOf(engine: Engine): ScoredModel | undefined {
  return engines.get(engine);
}

/** One line on what the replicate's cache did, or null when it was not used. */
export function scoreCacheSummary(ctx: object): string | null {
  const c = caches.get(ctx);
  if (!c) return null;
  const s = c.stats;
  if (s.hits + s.misses === 0) return null;
  const extra = [
    s.headOnly ? `${s.headOnly} full-precision window(s) by the head alone` : '',
    s.withoutHidden
      ? `${s.withoutHidden} entr${s.withoutHidden === 1 ? 'y' : 'ies'} without hidden states (cache folder at its size bound)`
      : '',
  ].filter(Boolean);
  return `score cache: ${s.hits} hits, ${s.misses} misses${extra.length ? ` (${extra.join('; ')})` : ''}`;
}

/** A kind whose run ends with the score-cache line in the replicate's log (when the cache was used). */
export function withScoreCacheLog<P>(kind: Kind<P>): Kind<P> {
  return {
    ...kind,
    async run(ctx) {
      try {
        await kind.run(ctx);
      } finally {
        const line = scoreCacheSummary(ctx);
        if (line) ctx.log(line);
      }
    },
  };
}
