// Comparing a treated (e.g. quantised) model with the full-precision one: opening a model alias
// (weights, tokenizer, engine, windows), scoring the units, comparing them unit by unit, and the
// paired bootstrap of a difference between two treatments. Units go through the run folder's score
// cache (./score-cache.ts) when the engines were opened with one.
// Reference: DESIGN.md §4 (ΔBPB, PPL ratio, KL, top-1).

import { createEngine } from '../engine/select.ts';
import type { Engine, EngineName } from '../engine/types.ts';
import { bootstrap } from '../eval/bootstrap.ts';
import { resolveBos, type BosPlan } from '../eval/bos.ts';
import {
  compareOnText,
  deltaMeasures,
  ReferenceCache,
  type CompareCache,
  type TextComparison,
} from '../eval/degradation.ts';
import { scoreTextCached } from '../eval/score-cache.ts';
import { sumTotals, textTotals, type TextTotals } from '../eval/metrics.ts';
import { scoreTokens } from '../eval/score.ts';
import { resolveWindowOptions } from '../eval/windows.ts';
import { ConfigError } from '../errors.ts';
import { loadModel } from '../model/load.ts';
import type { Model } from '../model/model.ts';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer.ts';
import type { KindContext } from '../pipeline/kind.ts';
import type { EvalSettings } from './params.ts';
import { evaluationTexts, selectionTexts, type StudyTexts, type UnitText } from './texts.ts';
import { mean, type IntervalSettings } from './record.ts';
import { registerEngine, scoreCacheOf, scoredModelOf, treatedModelKey } from './score-cache.ts';

// ---------------------------------------------------------------- models

export interface OpenModel {
  alias: string;
  model: Model;
  tokenizer: TextTokenizer;
  engine: Engine;
  window: { context: number; stride: number };
  /** What is put before each text (params.bos applied to the tokenizer's convention). */
  bos: BosPlan;
  /** Identifies the full-precision model in reference caches. */
  key: string;
}

/** Window settings for a model: the requested context, at most the model's positions. */
export function windowFor(model: Model, context?: number, stride?: number): { context: number; stride: number } {
  const max = model.config.maxPositions;
  const K = context ?? Math.min(max ?? 1024, 1024);
  if (max !== null && K > max)
    throw new ConfigError(
      `context ${K} is longer than the model's ${max} positions; set params.context to ${max} or less`,
    );
  return resolveWindowOptions({ context: K, stride });
}

/**
 * Loads a model alias of the experiment: weights, tokenizer and an engine. With the run folder's
 * score cache (ctx.scoreCacheDir), the engine is registered with it: scoreUnits and compareUnits
 * then read and write per-unit scores of this model (fingerprint: the folder's content hash).
 */
export async function openModel(
  ctx: Pick<KindContext<unknown>, 'models' | 'log'> & Partial<Pick<KindContext<unknown>, 'scoreCacheDir'>>,
  alias: string,
  p: Pick<EvalSettings, 'engine' | 'context' | 'stride'> & Partial<Pick<EvalSettings, 'bos'>>,
): Promise<OpenModel> {
  const m = ctx.models[alias];
  if (!m)
    throw new ConfigError(
      `model alias '${alias}' is not available to this experiment (have: ${Object.keys(ctx.models).join(', ') || 'none'}); check params.model`,
    );
  const model = loadModel(m.path);
  const tokenizer = await loadTokenizer(m.path);
  const bos = resolveBos(tokenizer, p.bos ?? 'auto', 'params.bos');
  const engine = await createEngine(model, p.engine, { onNotice: (s) => ctx.log(s), noticeKey: ctx });
  const cache = scoreCacheOf(ctx);
  registerEngine(engine, cache && { cache, key: () => m.hash, tokenizer: m.hash, bos: bos.id });
  return { alias, model, tokenizer, engine, window: windowFor(model, p.context, p.stride), bos, key: `${m.hash}` };
}

/**
 * An engine for a treated (e.g. quantised) copy of a model, with the same engine choice. With `base`
 * (the opened model it was made from) and a score cache, its per-unit scores are cached too, under a
 * hash of the treated weights; and the engine runs `base`'s head itself when it computes KL from
 * cached full-precision hidden states (Engine.klHeadOf), where it can.
 */
export async function engineFor(
  model: Model,
  name: EngineName,
  ctx: Pick<KindContext<unknown>, 'log'>,
  base?: Pick<OpenModel, 'engine' | 'key'>,
): Promise<Engine> {
  const engine = await createEngine(model, name, {
    onNotice: (s) => ctx.log(s),
    noticeKey: ctx,
    klHeadOf: base?.engine,
  });
  const b = base ? scoredModelOf(base.engine) : undefined;
  const key = () => treatedModelKey(base!.key, model);
  if (b) registerEngine(engine, { cache: b.cache, key, tokenizer: b.tokenizer, bos: b.bos });
  return engine;
}

/** The score cache shared by a reference and a treated engine, when both were registered with one. */
function compareCacheOf(reference: Engine, treated: Engine): CompareCache | undefined {
  const r = scoredModelOf(reference);
  const t = scoredModelOf(treated);
  if (!r || !t || r.cache !== t.cache || r.tokenizer !== t.tokenizer || r.bos !== t.bos) return undefined;
  return { cache: r.cache, referenceModel: r.key(), treatedModel: t.key(), tokenizer: r.tokenizer, bos: r.bos };
}
// ---------------------------------------------------------------- scoring

/**
 * The order in which a replicate visits the units of `texts`: every (language, unit) pair, in the
 * texts' order, or backwards for an odd replicate. Replicates that run at once (`--jobs N`) and share
 * units through the score cache then meet once in the middle instead of racing over the same units
 * from the same end: each shared unit is scored once, by whichever reaches it first, and read from the
 * cache by the other (a unit is looked up just before it is scored). A replicate's helper lane
 * (KindContext.lane 1) goes the other way from its replicate, so the two meet in the middle too. Only
 * the order of the work changes: a unit's scores do not depend on it, and the results are assembled
 * in the texts' order.
 */
export function visitOrder<T>(
  texts: ReadonlyMap<string, readonly T[]>,
  replicate = 0,
  lane = 0,
): [lang: string, index: number][] {
  const order: [string, number][] = [];
  for (const [lang, units] of texts) for (let i = 0; i < units.length; i++) order.push([lang, i]);
  return (replicate + lane) % 2 === 1 ? order.reverse() : order;
}

/** Where a kind's context sets the order of visits (visitOrder's replicate and lane). */
export function visitOf(ctx: Partial<Pick<KindContext<unknown>, 'replicate' | 'lane'>>): VisitTurn {
  return { replicate: ctx.replicate ?? 0, lane: ctx.lane ?? 0 };
}

/** visitOrder's arguments. */
export interface VisitTurn {
  replicate?: number;
  lane?: number;
}

/**
 * Runs `visit` on every unit in visitOrder and returns the results by language and unit id, both in
 * the texts' order; `progress` counts languages whose units are all done.
 */
async function visitUnits<R>(
  texts: Map<string, UnitText[]>,
  turn: VisitTurn,
  visit: (lang: string, u: UnitText) => Promise<R>,
  progress?: (done: number, total: number) => void,
): Promise<Map<string, Map<string, R>>> {
  const results = new Map<string, R[]>([...texts].map(([lang, units]) => [lang, new Array<R>(units.length)]));
  const left = new Map([...texts].map(([lang, units]) => [lang, units.length]));
  let done = 0;
  for (const n of left.values()) if (n === 0) progress?.(++done, texts.size);
  for (const [lang, i] of visitOrder(texts, turn.replicate, turn.lane)) {
    results.get(lang)![i] = await visit(lang, texts.get(lang)![i]);
    const n = left.get(lang)! - 1;
    left.set(lang, n);
    if (n === 0) progress?.(++done, texts.size);
  }
  const out = new Map<string, Map<string, R>>();
  for (const [lang, units] of texts) {
    const r = results.get(lang)!;
    out.set(lang, new Map(units.map((u, i) => [u.id, r[i]])));
  }
  return out;
}

/** Full-precision totals of each unit, by language (visited in visitOrder of `o`'s replicate and lane). */
export async function scoreUnits(
  engine: Engine,
  texts: Map<string, UnitText[]>,
  win: { context: number; stride: number },
  progress?: (done: number, total: number) => void,
  o: VisitTurn = {},
): Promise<Map<string, Map<string, TextTotals>>> {
  const cached = scoredModelOf(engine);
  return visitUnits(
    texts,
    o,
    async (lang, u) => {
      const sequence = `unit ${u.id} of ${lang}`;
      if (cached) {
        // Hidden states kept: a later experiment's KL against this model then needs its head only.
        const { cache, tokenizer, bos } = cached;
        const at = { cache, model: cached.key(), tokenizer, bos, keepHidden: true };
        return scoreTextCached(engine, u.ids, u.text, { ...win, sequence }, at);
      }
      const s = await scoreTokens(engine, u.ids, { ...win, sequence });
      return textTotals(u.text, s.nllSum, s.count);
    },
    progress,
  );
}

/** Per language, unit id → comparison of the treated model against the full-precision one. */
export type Comparisons = Map<string, Map<string, TextComparison>>;

/** What compareUnits and compareUnitsEach take: the reference, the texts, how to score them. */
interface CompareSettings extends VisitTurn {
  reference: Engine;
  texts: Map<string, UnitText[]>;
  window: { context: number; stride: number };
  kl: boolean;
  cache?: ReferenceCache;
  modelKey?: string;
}

/**
 * Compares the treated engine with the reference on every unit of every language (visited in
 * visitOrder of `o`'s replicate and lane).
 */
export async function compareUnits(
  o: CompareSettings & { treated: Engine },
  progress?: (done: number, total: number) => void,
): Promise<Comparisons> {
  return (await compareUnitsEach({ ...o, treated: [o.treated] }, progress))[0];
}

/**
 * compareUnits for several treated engines, one unit at a time: every engine is compared on a unit
 * before the next unit is visited, so that a unit's work is done (and kept in the score cache)
 * at once — what lets a layer scan's helper lane meet its replicate once in the middle. One
 * Comparisons per engine, in the order of `treated`.
 */
export async function compareUnitsEach(
  o: CompareSettings & { treated: readonly Engine[] },
  progress?: (done: number, total: number) => void,
): Promise<Comparisons[]> {
  const scores = o.treated.map((t) => compareCacheOf(o.reference, t));
  const byUnit = await visitUnits(
    o.texts,
    o,
    async (lang, u) => {
      const row: TextComparison[] = [];
      for (const [i, treated] of o.treated.entries())
        row.push(
          await compareOnText({
            reference: o.reference,
            treated,
            ids: u.ids,
            text: u.text,
            kl: o.kl,
            cache: o.cache,
            modelKey: o.modelKey,
            scores: scores[i],
            sequence: `unit ${u.id} of ${lang}`,
            ...o.window,
          }),
        );
      return row;
    },
    progress,
  );
  return o.treated.map(
    (_, i) => new Map([...byUnit].map(([lang, units]) => [lang, new Map([...units].map(([id, r]) => [id, r[i]]))])),
  );
}

/** A reference cache sized for a study's texts (log-probabilities of the full-precision model). */
export function referenceCache(maxBytes = 768 * 1024 * 1024): ReferenceCache {
  return new ReferenceCache(maxBytes);
}

/** Comparisons on the evaluation units, and on the selection (calibration) units when asked for. */
export interface TreatedComparisons {
  evaluation: Comparisons;
  /** On the calibration units: what a later experiment may choose on without touching evaluation units. */
  selection: Comparisons | null;
}

/**
 * Compares a treated copy of `m`'s model (e.g. quantised) with `m` on the evaluation texts (after
 * their adequacy check), with a fresh reference cache and progress by language; with `selection`,
 * also on the calibration units (see recordSelection). Closes the treated engine and `m`'s engine
 * (unless `keepReference`: the caller compares more treated models with it, then closes it) before
 * it returns or throws: the caller records from the comparisons.
 */
export async function compareTreated(
  ctx: Pick<KindContext<unknown>, 'corpus' | 'log' | 'metric' | 'progress'> &
    Partial<Pick<KindContext<unknown>, 'replicate' | 'lane'>>,
  t: Pick<StudyTexts, 'corpus' | 'langs' | 'evaluation' | 'calibration'>,
  m: OpenModel,
  treated: Model,
  p: Pick<EvalSettings, 'engine' | 'kl'> & { selection?: boolean },
  o: { keepReference?: boolean } = {},
): Promise<TreatedComparisons> {
  const qe = await engineFor(treated, p.engine, ctx, m);
  try {
    const texts = evaluationTexts(ctx, t, m);
    const evaluation = await compareUnits(
      {
        reference: m.engine,
        treated: qe,
        texts,
        window: m.window,
        kl: p.kl,
        cache: referenceCache(),
        modelKey: m.key,
        ...visitOf(ctx),
      },
      (d, n) => ctx.progress('languages', d, n),
    );
    const selection = p.selection
      ? await compareUnits({
          reference: m.engine,
          treated: qe,
          texts: selectionTexts(t, m),
          window: m.window,
          kl: false,
          ...visitOf(ctx),
        })
      : null;
    return { evaluation, selection };
  } finally {
    await qe.dispose();
    if (!o.keepReference) await m.engine.dispose();
  }
}

/** Paired bootstrap over unit ids of the mean over `langs` of ΔBPB(a) − ΔBPB(b). */
export function pairedDifference(
  a: Comparisons,
  b: Comparisons,
  langs: readonly string[],
  o: IntervalSettings,
): { estimate: number; lo: number; hi: number } {
  const ids = [...new Set(langs.flatMap((l) => [...a.get(l)!.keys()]))].sort();
  const stat = (sample: readonly string[]) =>
    mean(
      langs.map((l) => {
        const pick = (c: Comparisons) =>
          sample.map((id) => c.get(l)!.get(id)).filter((u): u is TextComparison => u !== undefined);
        const ua = pick(a);
        return ua.length ? deltaBpbOf(ua) - deltaBpbOf(pick(b)) : NaN;
      }),
    );
  const r = bootstrap(ids, stat, { seed: o.seed, resamples: o.resamples, method: o.method });
  return { estimate: r.estimate, lo: r.lo, hi: r.hi };
}
/** ΔBPB of a set of units, for bootstraps written by hand (C-002). */
export function deltaBpbOf(units: readonly TextComparison[]): number {
  return deltaMeasures(sumTotals(units.map((u) => u.fp)), sumTotals(units.map((u) => u.q))).deltaBpb;
}
