// Shared machinery of the study's experiment kinds: the evaluation and calibration texts of a
// replicate, opening a model alias (weights, tokenizer, engine, windows), scoring and comparing the
// texts unit by unit, and recording the degradation and disparity metrics of src/study/metrics.ts.
// Reference: DESIGN.md §4 (measurement: ΔBPB, PPL ratio, KL, top-1, disparity ratio with a paired
// bootstrap over aligned units) and §6 (a replicate draws its evaluation and calibration subsets
// with its own seed; the training split depends only on the training seed).
//
// Texts are scored one aligned unit (a UDHR article) at a time, so that every language's degradation
// can be resampled by unit for the bootstrap. Each unit gets the model's BOS convention
// (params.bos, src/eval/bos.ts): with a BOS every token of the unit is scored, without one the first
// token is not (windows.ts).
//
// Before scoring, the evaluation texts go through two guards: the data layer's adequacy check
// (src/data/adequacy.ts; `corpus.adequacy: warn | refuse`, `corpus.minUnits`) and, for a model whose
// folder holds the trainer's training.json, a hold-out check: a pipeline's corpus.split could put the
// units the built-in model was trained on into evaluation, and the study refuses that.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { createEngine } from '../engine/select.ts';
import type { Engine, EngineName } from '../engine/types.ts';
import { alignedUnitIds, unitsById, type Corpus } from '../data/corpus.ts';
import { openCorpus } from '../data/user.ts';
import { checkAdequacy, DEFAULT_MIN_UNITS } from '../data/adequacy.ts';
import { DEFAULT_SPLIT_SHARES, splitUnits, UDHR_UNIT_IDS } from '../data/splits.ts';
import { bootstrap, disparityRatio, type IntervalMethod, type LanguageUnits } from '../eval/bootstrap.ts';
import { languageLevelDisparity } from '../eval/language-level.ts';
import { describeBos, encodeWithBos, resolveBos, type BosMode, type BosPlan } from '../eval/bos.ts';
import { compareOnText, degradationStatistic, deltaMeasures, klPerByte, ReferenceCache, summarizeDegradation, type DegradationMeasure, type TextComparison } from '../eval/degradation.ts';
import { measures, sumTotals, textTotals, variance, type TextTotals } from '../eval/metrics.ts';
import { scoreTokens } from '../eval/score.ts';
import { resolveWindowOptions } from '../eval/windows.ts';
import { ConfigError, DataError } from '../errors.ts';
import { loadModel } from '../model/load.ts';
import type { Model } from '../model/model.ts';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer.ts';
import type { KindContext } from '../pipeline/kind.ts';
import { Rng, deriveSeed } from '../util/rng.ts';
import { HIGH, LOW, UNSEEN } from './metrics.ts';

// ---------------------------------------------------------------- parameters shared by the kinds

/** Evaluation settings every measuring kind accepts. */
export const EvalParams = {
  /** The model alias measured. */
  model: z.string().default('base'),
  /** Evaluation units per language (a subset of the evaluation split drawn with the replicate seed); default all. */
  maxUnits: z.number().int().min(2).optional(),
  /** Tokens per window (default: the model's positions, at most 1024) and stride (default half). */
  context: z.number().int().min(2).optional(),
  stride: z.number().int().min(1).optional(),
  engine: z.enum(['auto', 'ort', 'reference']).default('auto'),
  /** Bootstrap resamples for intervals. */
  resamples: z.number().int().min(50).max(100000).default(1000),
  /** Interval method over units: BCa (default; with Hesterberg's small-sample widening) or the percentile interval. */
  interval: z.enum(['bca', 'percentile']).default('bca'),
  /** Compute KL divergence (needs full log-probabilities of both models). */
  kl: z.boolean().default(true),
  /** A BOS token before each unit: as the model's tokenizer files say (auto), always, or never (src/eval/bos.ts). */
  bos: z.enum(['auto', 'always', 'never']).default('auto'),
};

/** Also score the calibration units (selection split), for a later experiment's choice (B-004). */
export const SelectionParams = {
  selection: z.boolean().default(true),
};

/** The quantisation setting (DESIGN.md §5; default INT4 asymmetric, group 128, blocks only). */
export const QuantParams = {
  bits: z.number().int().min(2).max(8).default(4),
  scheme: z.enum(['sym', 'asym']).default('asym'),
  groupSize: z.union([z.number().int().min(1), z.literal('channel')]).default(128),
};

export interface EvalSettings {
  model: string;
  maxUnits?: number;
  context?: number;
  stride?: number;
  engine: EngineName;
  resamples: number;
  kl: boolean;
  bos: BosMode;
}

export interface QuantSettings {
  bits: number;
  scheme: 'sym' | 'asym';
  groupSize: number | 'channel';
}

// ---------------------------------------------------------------- corpus and texts

export interface StudyLanguages {
  /** High- and low-resource languages the model saw in training (the groups compared). */
  high: string[];
  low: string[];
  /** Study languages the model never saw (group @unseen): reported on their own, never pooled into @low. */
  unseen: string[];
  /** Every study language, in group order (unseen ones included: they are scored too). */
  all: string[];
}

/** The languages of the pipeline's `high` and `low` groups (a study needs both); none unseen yet. */
export function studyLanguages(groups: Readonly<Record<string, readonly string[]>>): StudyLanguages {
  const high = [...(groups.high ?? [])];
  const low = [...(groups.low ?? [])];
  if (high.length === 0 || low.length === 0) {
    throw new ConfigError(`the study needs language groups 'high' and 'low' in the pipeline's corpus.groups (have: ${Object.keys(groups).join(', ') || 'none'})`);
  }
  const both = high.filter((l) => low.includes(l));
  if (both.length) throw new ConfigError(`language(s) ${both.join(', ')} are in both the high and the low group; put each in one`);
  return { high, low, unseen: [], all: [...high, ...low] };
}

/**
 * Moves the languages a model never saw out of the high and low groups into `unseen`. A language
 * the model never saw is not a low-resource language of that model: its degradation measures how a
 * quantised model handles text it cannot model at all, and one such language can carry a group mean
 * (issue 12). Each group keeps at least one language, else the study cannot compare them.
 */
export function withUnseen(langs: StudyLanguages, unseen: Iterable<string>): StudyLanguages {
  const u = new Set(unseen);
  const high = langs.high.filter((l) => !u.has(l));
  const low = langs.low.filter((l) => !u.has(l));
  if (high.length === 0 || low.length === 0) {
    throw new ConfigError(`every ${high.length === 0 ? 'high' : 'low'}-resource language is unseen by the model (${[...u].join(', ')}); the study needs seen languages in both groups — change corpus.groups or corpus.unseen`);
  }
  return { high, low, unseen: langs.all.filter((l) => u.has(l)), all: langs.all };
}

/**
 * The study languages model `alias` never saw: those named in the pipeline's `corpus.unseen` (a list
 * for every model, or `{ alias: [codes] }`), plus, for a model folder holding the trainer's
 * training.json, the study languages absent from its training text (share 0 in its mix).
 * `iso` maps a study code to the code training.json uses (ISO 639-3).
 */
export function unseenLanguages(corpus: Readonly<Record<string, unknown>>, alias: string, modelDir: string | undefined, langs: readonly string[], iso: (l: string) => string = (l) => l): string[] {
  const declared = studyCorpusOptions(corpus).unseen;
  const named = Array.isArray(declared) ? declared : (declared[alias] ?? []);
  const out = new Set(named.filter((l) => langs.includes(l)));
  const rec = modelDir ? readTrainingRecord(modelDir) : null;
  if (rec?.languages) for (const l of langs) if (!rec.languages.includes(iso(l))) out.add(l);
  return langs.filter((l) => out.has(l));
}

/** The study languages for model `alias` of the experiment, its unseen languages split out. */
export function languagesFor(ctx: Pick<KindContext<unknown>, 'corpus' | 'groups'> & { models?: KindContext<unknown>['models'] }, alias: string, iso?: (l: string) => string): StudyLanguages {
  const langs = studyLanguages(ctx.groups);
  return withUnseen(langs, unseenLanguages(ctx.corpus, alias, ctx.models?.[alias]?.path, langs.all, iso));
}

/** The study's own settings in the pipeline's `corpus` section (the pipeline engine passes them through). */
const CorpusOptions = z.object({
  /** Keep UDHR declarations below stage 4 (incomplete transcriptions). */
  includeIncomplete: z.boolean().default(false),
  /** What an inadequate evaluation text does: a warning in the log and metric, or a failed experiment. */
  adequacy: z.enum(['warn', 'refuse']).default('warn'),
  /** Fewest evaluation units per language for a meaningful bootstrap interval. */
  minUnits: z.number().int().min(2).default(DEFAULT_MIN_UNITS),
  /** Languages a model never saw (group @unseen): a list for every model, or per model alias. */
  unseen: z.union([z.array(z.string()), z.record(z.string(), z.array(z.string()))]).default([]),
});
export type StudyCorpusOptions = z.output<typeof CorpusOptions>;

/** Reads and checks `corpus.includeIncomplete`, `corpus.adequacy` and `corpus.minUnits`. */
export function studyCorpusOptions(corpus: Readonly<Record<string, unknown>>): StudyCorpusOptions {
  const r = CorpusOptions.safeParse({ includeIncomplete: corpus.includeIncomplete, adequacy: corpus.adequacy, minUnits: corpus.minUnits, unseen: corpus.unseen });
  if (!r.success) {
    const i = r.error.issues[0];
    throw new ConfigError(`corpus.${i.path.join('.')} in the pipeline file: ${i.message}; use includeIncomplete: true|false, adequacy: warn|refuse, minUnits: an integer ≥ 2, unseen: [codes] or { alias: [codes] }`);
  }
  return r.data;
}

/** The corpus spec: `corpus.path` when given, else `corpus.name` (default udhr). */
function corpusSpec(corpus: Readonly<Record<string, unknown>>): string {
  return typeof corpus.path === 'string' ? corpus.path : typeof corpus.name === 'string' ? corpus.name : 'udhr';
}

/** Opens the pipeline's corpus (`corpus.name: udhr` by default, or `corpus.path`) for the study languages. */
export function studyCorpus(corpus: Readonly<Record<string, unknown>>, langs: readonly string[]): Corpus {
  const { includeIncomplete } = studyCorpusOptions(corpus);
  return openCorpus(corpusSpec(corpus), { languages: [...langs], includeIncomplete });
}

/** Split settings from the pipeline's `corpus.split` (shares and the training seed). */
function splitSettings(corpus: Readonly<Record<string, unknown>>): { trainingSeed?: number; trainingShare?: number; calibrationShare?: number } {
  const s = (corpus.split ?? {}) as Record<string, unknown>;
  const num = (k: string) => (typeof s[k] === 'number' ? (s[k] as number) : undefined);
  return { trainingSeed: num('trainingSeed'), trainingShare: num('trainingShare'), calibrationShare: num('calibrationShare') };
}

export interface StudyTexts {
  corpus: Corpus;
  langs: StudyLanguages;
  /** Evaluation unit ids (aligned across languages), drawn for this replicate. */
  evaluation: string[];
  calibration: string[];
}

/**
 * The replicate's evaluation and calibration unit ids over the languages all study languages share.
 * With `alias`, refuses evaluation units the alias's model was trained on (checkTrainingHoldOut).
 */
export function studyTexts(ctx: Pick<KindContext<unknown>, 'corpus' | 'groups' | 'seed'> & { models?: KindContext<unknown>['models'] }, maxUnits?: number, alias?: string): StudyTexts {
  const all = studyLanguages(ctx.groups);
  const corpus = studyCorpus(ctx.corpus, all.all);
  const langs = alias !== undefined ? languagesFor(ctx, alias, (l) => corpus.iso6393(l)) : all;
  const ids = alignedUnitIds(corpus, langs.all);
  if (ids.length < 3) throw new DataError(`the study languages share only ${ids.length} aligned unit(s) in corpus ${corpus.name}; use languages with complete texts`);
  const split = splitUnits(ids, { seed: ctx.seed, ...splitSettings(ctx.corpus) });
  let evaluation = split.evaluation;
  if (maxUnits !== undefined && evaluation.length > maxUnits) {
    // A subset drawn with the replicate seed, kept in corpus order.
    const pick = new Set(new Rng(deriveSeed(ctx.seed, 'evaluation-subset')).shuffle([...evaluation]).slice(0, maxUnits));
    evaluation = evaluation.filter((id) => pick.has(id));
  }
  const model = alias !== undefined ? ctx.models?.[alias] : undefined;
  if (model) checkTrainingHoldOut(alias!, model.path, { corpus: corpusSpec(ctx.corpus), languages: langs.all.map((l) => corpus.iso6393(l)), evaluation });
  return { corpus, langs, evaluation, calibration: split.calibration };
}

// ---------------------------------------------------------------- training hold-out

/** What a model folder's training.json (written by `langquant train`) says about its training text. */
export interface TrainingRecord {
  corpus: string;
  trainingSeed: number;
  trainingShare: number;
  /** Languages the model was trained on (null: not recorded, taken as all). */
  languages: string[] | null;
}

/**
 * Reads the training split of a model folder's training.json, or null when there is none. The
 * trainer records its corpus, its languages (data.trainTokens, else the mix's non-zero shares) and
 * the split as text ("training units (…, trainingSeed 0)"); a numeric data.trainingSeed /
 * data.trainingShare wins when present, otherwise the split's defaults (what the trainer uses).
 */
export function readTrainingRecord(dir: string): TrainingRecord | null {
  const file = join(dir, 'training.json');
  if (!existsSync(file)) return null;
  let j: { data?: Record<string, unknown>; mix?: { shares?: Record<string, number> } };
  try {
    j = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new DataError(`${file} is not readable JSON (${(e as Error).message}); restore it from \`langquant train\` or remove it`);
  }
  const data = j.data ?? {};
  const seedInText = typeof data.split === 'string' ? /trainingSeed\s+(\d+)/.exec(data.split)?.[1] : undefined;
  const trainingSeed = typeof data.trainingSeed === 'number' ? data.trainingSeed : seedInText !== undefined ? Number(seedInText) : 0;
  const trainingShare = typeof data.trainingShare === 'number' ? data.trainingShare : DEFAULT_SPLIT_SHARES.trainingShare;
  const tokens = data.trainTokens && typeof data.trainTokens === 'object' ? Object.keys(data.trainTokens) : null;
  const shares = j.mix?.shares ? Object.entries(j.mix.shares).filter(([, v]) => v > 0).map(([k]) => k) : null;
  return { corpus: typeof data.corpus === 'string' ? data.corpus : 'udhr', trainingSeed, trainingShare, languages: tokens ?? shares };
}

/**
 * Refuses (ConfigError) when an evaluation unit of a study language was in the training text of the
 * model in `dir` (per its training.json). Only a model trained on the same corpus is compared; the
 * training units are the data layer's split with the model's trainingSeed and share.
 */
export function checkTrainingHoldOut(alias: string, dir: string, o: { corpus: string; languages: readonly string[]; evaluation: readonly string[] }): void {
  const rec = readTrainingRecord(dir);
  if (!rec || rec.corpus !== o.corpus || rec.corpus !== 'udhr') return; // unit ids of other corpora name other texts
  const trained = rec.languages === null ? [...o.languages] : o.languages.filter((l) => rec.languages!.includes(l));
  if (trained.length === 0) return;
  const training = new Set(splitUnits(UDHR_UNIT_IDS, { seed: 0, trainingSeed: rec.trainingSeed, trainingShare: rec.trainingShare, calibrationShare: 0 }).training);
  const overlap = o.evaluation.filter((id) => training.has(id));
  if (overlap.length === 0) return;
  throw new ConfigError(
    `model '${alias}' (${dir}) was trained on evaluation unit(s) ${overlap.join(', ')} in ${trained.join(', ')} (its training.json: trainingSeed ${rec.trainingSeed}, trainingShare ${rec.trainingShare}); ` +
      `set corpus.split.trainingSeed to ${rec.trainingSeed} and trainingShare to at least ${rec.trainingShare}, or use a model not trained on these units`,
  );
}

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
  if (max !== null && K > max) throw new ConfigError(`context ${K} is longer than the model's ${max} positions; set params.context to ${max} or less`);
  return resolveWindowOptions({ context: K, stride });
}

/** Loads a model alias of the experiment: weights, tokenizer and an engine. */
export async function openModel(ctx: Pick<KindContext<unknown>, 'models' | 'log'>, alias: string, p: Pick<EvalSettings, 'engine' | 'context' | 'stride'> & Partial<Pick<EvalSettings, 'bos'>>): Promise<OpenModel> {
  const m = ctx.models[alias];
  if (!m) throw new ConfigError(`model alias '${alias}' is not available to this experiment (have: ${Object.keys(ctx.models).join(', ') || 'none'}); check params.model`);
  const model = loadModel(m.path);
  const tokenizer = await loadTokenizer(m.path);
  const bos = resolveBos(tokenizer, p.bos ?? 'auto', 'params.bos');
  const engine = await createEngine(model, p.engine, { onNotice: (s) => ctx.log(s) });
  return { alias, model, tokenizer, engine, window: windowFor(model, p.context, p.stride), bos, key: `${m.hash}` };
}

/** An engine for a treated (e.g. quantised) copy of a model, with the same engine choice. */
export async function engineFor(model: Model, name: EngineName, log: (s: string) => void): Promise<Engine> {
  return createEngine(model, name, { onNotice: log });
}

// ---------------------------------------------------------------- tokenised texts

export interface UnitText {
  id: string;
  text: string;
  ids: Int32Array;
}

/**
 * The evaluation units of every study language, tokenised, after the adequacy check of
 * src/data/adequacy.ts (window: the model's scoring context; units: `corpus.minUnits`). Mode warn
 * (default) logs each finding and records `adequacy_warnings`; mode refuse throws its DataError.
 * Each unit starts with `m.bos` when it has one (none without `m.bos`); the convention is logged
 * and recorded as `bos_prepended` (0/1).
 */
export function evaluationTexts(
  ctx: Pick<KindContext<unknown>, 'corpus' | 'log' | 'metric'>,
  t: Pick<StudyTexts, 'corpus' | 'langs' | 'evaluation'>,
  m: { alias: string; tokenizer: Pick<TextTokenizer, 'encode'>; window: { context: number }; bos?: BosPlan | null },
): Map<string, UnitText[]> {
  const o = studyCorpusOptions(ctx.corpus);
  const texts = tokenizeUnits(t.corpus, t.langs.all, t.evaluation, m.tokenizer, m.bos);
  // Units are scored one by one, so a language's text is the sum of its units' tokens.
  const measured = [...texts].map(([lang, units]) => ({ lang, units: units.length, tokens: units.reduce((a, u) => a + u.ids.length, 0) }));
  const { warnings } = checkAdequacy(measured, { contextTokens: Math.max(2, m.window.context), minUnits: o.minUnits, mode: o.adequacy });
  for (const w of warnings) ctx.log(`adequacy warning: ${w.message}`);
  ctx.metric('adequacy_warnings', warnings.length, { model: m.alias });
  ctx.metric('bos_prepended', m.bos?.id != null ? 1 : 0, { model: m.alias });
  ctx.log(`${m.alias}: ${m.bos ? describeBos(m.bos, 'params.bos') : 'BOS: none; the first token of each unit is context only, not scored.'}`);
  return texts;
}

/** Per language, the evaluation units as texts and token ids, `bos` first when given (units with fewer than 2 ids are dropped). */
export function tokenizeUnits(corpus: Corpus, langs: readonly string[], ids: readonly string[], tok: Pick<TextTokenizer, 'encode'>, bos?: BosPlan | null): Map<string, UnitText[]> {
  const out = new Map<string, UnitText[]>();
  for (const lang of langs) {
    const units = unitsById(corpus, lang, ids)
      .map((u) => ({ id: u.id, text: u.text, ids: Int32Array.from(encodeWithBos(tok, u.text, bos)) }))
      .filter((u) => u.ids.length >= 2);
    if (units.length === 0) throw new DataError(`language ${lang} has no evaluation unit of 2 tokens or more; check its text in corpus ${corpus.name}`);
    out.set(lang, units);
  }
  return out;
}

/** Token sequences of the calibration units of `langs` (one joined text per language, `bos` first when given). */
export function calibrationSequences(corpus: Corpus, langs: readonly string[], ids: readonly string[], tok: Pick<TextTokenizer, 'encode'>, bos?: BosPlan | null): Int32Array[] {
  return langs.map((lang) => Int32Array.from(encodeWithBos(tok, unitsById(corpus, lang, ids).map((u) => u.text).join('\n'), bos))).filter((s) => s.length >= 2);
}

// ---------------------------------------------------------------- scoring

/** Full-precision totals of each unit, by language. */
export async function scoreUnits(engine: Engine, texts: Map<string, UnitText[]>, win: { context: number; stride: number }, progress?: (done: number, total: number) => void): Promise<Map<string, Map<string, TextTotals>>> {
  const out = new Map<string, Map<string, TextTotals>>();
  let done = 0;
  for (const [lang, units] of texts) {
    const m = new Map<string, TextTotals>();
    for (const u of units) {
      const s = await scoreTokens(engine, u.ids, { ...win, sequence: `unit ${u.id} of ${lang}` });
      m.set(u.id, textTotals(u.text, s.nllSum, s.count));
    }
    out.set(lang, m);
    progress?.(++done, texts.size);
  }
  return out;
}

/** Per language, unit id → comparison of the treated model against the full-precision one. */
export type Comparisons = Map<string, Map<string, TextComparison>>;

/** Compares the treated engine with the reference on every unit of every language. */
export async function compareUnits(
  o: { reference: Engine; treated: Engine; texts: Map<string, UnitText[]>; window: { context: number; stride: number }; kl: boolean; cache?: ReferenceCache; modelKey?: string },
  progress?: (done: number, total: number) => void,
): Promise<Comparisons> {
  const out: Comparisons = new Map();
  let done = 0;
  for (const [lang, units] of o.texts) {
    const m = new Map<string, TextComparison>();
    for (const u of units) {
      m.set(u.id, await compareOnText({ reference: o.reference, treated: o.treated, ids: u.ids, text: u.text, kl: o.kl, cache: o.cache, modelKey: o.modelKey, sequence: `unit ${u.id} of ${lang}`, ...o.window }));
    }
    out.set(lang, m);
    progress?.(++done, o.texts.size);
  }
  return out;
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
 * before it returns or throws: the caller records from the comparisons.
 */
export async function compareTreated(
  ctx: Pick<KindContext<unknown>, 'corpus' | 'log' | 'metric' | 'progress'>,
  t: Pick<StudyTexts, 'corpus' | 'langs' | 'evaluation' | 'calibration'>,
  m: OpenModel,
  treated: Model,
  p: Pick<EvalSettings, 'engine' | 'kl'> & { selection?: boolean },
): Promise<TreatedComparisons> {
  const qe = await engineFor(treated, p.engine, (s) => ctx.log(s));
  try {
    const texts = evaluationTexts(ctx, t, m);
    const evaluation = await compareUnits({ reference: m.engine, treated: qe, texts, window: m.window, kl: p.kl, cache: referenceCache(), modelKey: m.key }, (d, n) => ctx.progress('languages', d, n));
    const selection = p.selection ? await compareUnits({ reference: m.engine, treated: qe, texts: selectionTexts(t, m), window: m.window, kl: false }) : null;
    return { evaluation, selection };
  } finally {
    await qe.dispose();
    await m.engine.dispose();
  }
}

/**
 * The selection units of every study language, tokenised: the replicate's calibration units. A
 * choice made from measurements (the optimal share of B-004, the critical blocks of C-001) is made on
 * these, and the evaluation units then test it without having chosen it (no double dipping).
 */
export function selectionTexts(t: Pick<StudyTexts, 'corpus' | 'langs' | 'calibration'>, m: { tokenizer: Pick<TextTokenizer, 'encode'>; bos?: BosPlan | null }): Map<string, UnitText[]> {
  if (t.calibration.length === 0) throw new DataError('the split has no calibration units to select on; set corpus.split.calibrationShare above 0');
  return tokenizeUnits(t.corpus, t.langs.all, t.calibration, m.tokenizer, m.bos);
}

/** Records the group means of ΔBPB on the selection units: `sel_low_delta_bpb`, `sel_high_delta_bpb`. */
export function recordSelection(ctx: Rec, alias: string, sel: Comparisons, langs: StudyLanguages): void {
  const deg = degradations(sel);
  ctx.metric('sel_low_delta_bpb', mean(langs.low.map((l) => deg.get(l)!.deltaBpb)), { model: alias });
  ctx.metric('sel_high_delta_bpb', mean(langs.high.map((l) => deg.get(l)!.deltaBpb)), { model: alias });
}

/** Paired bootstrap over unit ids of the mean over `langs` of ΔBPB(a) − ΔBPB(b). */
export function pairedDifference(a: Comparisons, b: Comparisons, langs: readonly string[], o: IntervalSettings): { estimate: number; lo: number; hi: number } {
  const ids = [...new Set(langs.flatMap((l) => [...a.get(l)!.keys()]))].sort();
  const stat = (sample: readonly string[]) =>
    mean(
      langs.map((l) => {
        const pick = (c: Comparisons) => sample.map((id) => c.get(l)!.get(id)).filter((u): u is TextComparison => u !== undefined);
        const ua = pick(a);
        return ua.length ? deltaBpbOf(ua) - deltaBpbOf(pick(b)) : NaN;
      }),
    );
  const r = bootstrap(ids, stat, { seed: o.seed, resamples: o.resamples, method: o.method });
  return { estimate: r.estimate, lo: r.lo, hi: r.hi };
}

// ---------------------------------------------------------------- recording

type Rec = Pick<KindContext<unknown>, 'metric'>;
const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** Records a value with its interval: `name`, `name_lo` and `name_hi`. */
function recordInterval(ctx: Rec, name: string, value: number, ci: { lo: number; hi: number }, where: { model: string; language?: string }): void {
  ctx.metric(name, value, where);
  ctx.metric(`${name}_lo`, ci.lo, where);
  ctx.metric(`${name}_hi`, ci.hi, where);
}

/** The groups whose means are recorded: @high, @low and, when the model has unseen languages, @unseen. */
export function groupsOf(langs: StudyLanguages): [string, string[]][] {
  const g: [string, string[]][] = [[HIGH, langs.high], [LOW, langs.low]];
  if (langs.unseen.length) g.push([UNSEEN, langs.unseen]);
  return g;
}

/** Records baseline metrics of one language's summed totals. */
export function recordBaseline(ctx: Rec, alias: string, scores: Map<string, Map<string, TextTotals>>, langs: StudyLanguages): void {
  const ppl = new Map<string, number>();
  const bpb = new Map<string, number>();
  for (const [lang, units] of scores) {
    const m = measures(sumTotals(units.values()));
    const w = { model: alias, language: lang };
    ctx.metric('nll_nats', m.nllNats, w);
    ctx.metric('tokens', m.tokens, w);
    ctx.metric('bytes', m.bytes, w);
    ctx.metric('chars', m.chars, w);
    ctx.metric('mean_nll', m.meanNll, w);
    ctx.metric('ppl', m.tokenPerplexity, w);
    ctx.metric('bpb', m.bitsPerByte, w);
    ctx.metric('bpc', m.bitsPerChar, w);
    ctx.metric('tokens_per_byte', m.tokens / m.bytes, w);
    ppl.set(lang, m.tokenPerplexity);
    bpb.set(lang, m.bitsPerByte);
  }
  for (const [g, list] of groupsOf(langs)) {
    ctx.metric('ppl', mean(list.map((l) => ppl.get(l)!)), { model: alias, language: g });
    ctx.metric('bpb', mean(list.map((l) => bpb.get(l)!)), { model: alias, language: g });
  }
  ctx.metric('ppl_variance', variance([...ppl.values()]), { model: alias });
}

/** Per-language degradation summary (ΔBPB, PPL increase, KL, top-1). */
export function degradations(c: Comparisons): Map<string, ReturnType<typeof summarizeDegradation>> {
  return new Map([...c].map(([lang, units]) => [lang, summarizeDegradation([...units.values()])]));
}

/**
 * Records the per-language degradation metrics (with bootstrap intervals over units of ΔBPB and of
 * the relative perplexity increase),
 * their group means and the perplexity variances. `prefix` names a strategy in C-002 (e.g. 'layer_').
 */
export function recordDegradation(ctx: Rec, alias: string, c: Comparisons, langs: StudyLanguages, o: IntervalSettings): Map<string, ReturnType<typeof summarizeDegradation>> {
  const deg = degradations(c);
  const dbpb = degradationStatistic('deltaBpb');
  const pplRel = degradationStatistic('pplRatioMinus1');
  for (const [lang, d] of deg) {
    const w = { model: alias, language: lang };
    const units = [...c.get(lang)!.values()];
    const ci = bootstrap(units, dbpb, { seed: deriveSeed(o.seed, 'delta-bpb', lang), resamples: o.resamples, method: o.method });
    // The secondary measure gets its own interval over the same units (DESIGN.md §4: intervals on both).
    const cp = bootstrap(units, pplRel, { seed: deriveSeed(o.seed, 'ppl-rel-increase', lang), resamples: o.resamples, method: o.method });
    recordInterval(ctx, 'delta_bpb', d.deltaBpb, ci, w);
    recordInterval(ctx, 'ppl_rel_increase', d.pplRatioMinus1, cp, w);
    ctx.metric('delta_nll', d.deltaNll, w);
    ctx.metric('bpb_q', d.q.bitsPerByte, w);
    ctx.metric('ppl_q', d.q.tokenPerplexity, w);
    ctx.metric('kl_mean', d.klMean, w);
    ctx.metric('kl_p50', d.klP50, w);
    ctx.metric('kl_p90', d.klP90, w);
    ctx.metric('kl_p99', d.klP99, w);
    ctx.metric('kl_max', d.klMax, w);
    ctx.metric('top1_agree', d.top1Agreement, w);
    const kpb = klPerByte(units);
    if (!Number.isNaN(kpb)) ctx.metric('kl_per_byte', kpb, w);
  }
  for (const [g, list] of groupsOf(langs)) {
    ctx.metric('delta_bpb', mean(list.map((l) => deg.get(l)!.deltaBpb)), { model: alias, language: g });
    ctx.metric('ppl_rel_increase', mean(list.map((l) => deg.get(l)!.pplRatioMinus1)), { model: alias, language: g });
  }
  ctx.metric('ppl_variance_q', variance([...deg.values()].map((d) => d.q.tokenPerplexity)), { model: alias });
  return deg;
}

export interface DisparitySummary {
  ratio: number;
  lo: number;
  hi: number;
  unstable: boolean;
  lowMean: number;
  highMean: number;
}

export type DisparityMeasure = Extract<DegradationMeasure, 'deltaBpb' | 'pplRatioMinus1' | 'klPerByte'>;

/** Settings of every interval the study computes: seed, resamples and the interval method. */
export interface IntervalSettings {
  seed: number;
  resamples: number;
  /** Unit-level interval method (default BCa); the language-level two-stage bootstrap is always percentile. */
  method?: IntervalMethod;
}

/** The languages of a group with their units, as the bootstrap takes them. */
export function groupUnits(c: Comparisons, list: readonly string[]): LanguageUnits<TextComparison>[] {
  return list.map((lang) => ({ lang, units: c.get(lang)! }));
}

/** The low/high disparity ratio of one degradation measure with its paired bootstrap interval. */
export function disparity(c: Comparisons, langs: Pick<StudyLanguages, 'low' | 'high'>, measure: DisparityMeasure, o: IntervalSettings): DisparitySummary & { lowLo: number; lowHi: number; highLo: number; highHi: number } {
  const r = disparityRatio({ low: groupUnits(c, langs.low), high: groupUnits(c, langs.high), degradation: degradationStatistic(measure), seed: deriveSeed(o.seed, 'disparity', measure), resamples: o.resamples, method: o.method });
  return {
    // The point estimate is kept even when unstable (flagged), so a report can show what it was.
    ratio: r.lowMean.estimate / r.highMean.estimate,
    lo: r.ratio ? r.ratio.lo : NaN,
    hi: r.ratio ? r.ratio.hi : NaN,
    unstable: r.unstable,
    lowMean: r.lowMean.estimate,
    highMean: r.highMean.estimate,
    lowLo: r.lowMean.lo,
    lowHi: r.lowMean.hi,
    highLo: r.highMean.lo,
    highHi: r.highMean.hi,
  };
}

/** Whether every unit of the comparisons carries KL values (C-001/C-002 compare without KL). */
export function hasKl(c: Comparisons): boolean {
  for (const units of c.values()) for (const u of units.values()) if (u.kl.length === 0 && u.fp.tokens > 0) return false;
  return c.size > 0;
}

/**
 * Records, for ΔBPB (primary), the relative perplexity increase and KL per byte (second measure,
 * when KL was measured): the ratio with its paired unit-level interval and `unstable` flag, the group
 * means with intervals, and the gap; for a model with unseen languages, their group mean on its own.
 * The low group never includes unseen languages (StudyLanguages.low).
 */
export function recordDisparity(ctx: Rec, alias: string, c: Comparisons, langs: StudyLanguages, o: IntervalSettings): { dbpb: DisparitySummary; ppl: DisparitySummary; klpb: DisparitySummary | null } {
  const dbpb = disparity(c, langs, 'deltaBpb', o);
  const ppl = disparity(c, langs, 'pplRatioMinus1', o);
  const klpb = hasKl(c) ? disparity(c, langs, 'klPerByte', o) : null;
  const w = { model: alias };
  recordInterval(ctx, 'ratio_dbpb', dbpb.ratio, dbpb, w);
  ctx.metric('ratio_dbpb_unstable', dbpb.unstable ? 1 : 0, w);
  recordInterval(ctx, 'ratio_ppl', ppl.ratio, ppl, w);
  ctx.metric('ratio_ppl_unstable', ppl.unstable ? 1 : 0, w);
  const groups: [string, DisparitySummary & { lowLo: number; lowHi: number; highLo: number; highHi: number }][] = [['group_delta_bpb', dbpb], ['group_ppl_rel_increase', ppl]];
  if (klpb) {
    recordInterval(ctx, 'ratio_klpb', klpb.ratio, klpb, w);
    ctx.metric('ratio_klpb_unstable', klpb.unstable ? 1 : 0, w);
    groups.push(['group_kl_per_byte', klpb]);
    ctx.metric('low_kl_per_byte_lo', klpb.lowLo, w);
    ctx.metric('high_kl_per_byte_lo', klpb.highLo, w);
  }
  for (const [name, d] of groups) {
    recordInterval(ctx, name, d.highMean, { lo: d.highLo, hi: d.highHi }, { model: alias, language: HIGH });
    recordInterval(ctx, name, d.lowMean, { lo: d.lowLo, hi: d.lowHi }, { model: alias, language: LOW });
  }
  // The language as the unit of inference: a two-stage bootstrap (languages within each group, then
  // units) and a permutation test of the group labels, for both measures.
  for (const [measure, name] of [['deltaBpb', 'dbpb'], ...(klpb ? [['klPerByte', 'klpb']] : [])] as [DisparityMeasure, string][]) {
    const L = languageLevelDisparity({ low: groupUnits(c, langs.low), high: groupUnits(c, langs.high), degradation: degradationStatistic(measure), seed: deriveSeed(o.seed, 'language-level', measure), resamples: o.resamples });
    // Unstable over languages: the high group's two-stage interval reaches 0, so the ratio has no interval (NaN bounds).
    ctx.metric(`ratio_${name}_lang_unstable`, L.unstable ? 1 : 0, w);
    ctx.metric(`ratio_${name}_lang_lo`, L.ratio ? L.ratio.lo : NaN, w);
    ctx.metric(`ratio_${name}_lang_hi`, L.ratio ? L.ratio.hi : NaN, w);
    ctx.metric(`perm_p_${name}`, L.permP, w);
  }
  ctx.metric('gap_dbpb', dbpb.lowMean - dbpb.highMean, w);
  // The same group values as experiment-level rows: a question rule's '@low' selects the group's
  // languages (unseen ones included, as the pipeline file lists them), not the group row, and the
  // rules ask whether a degradation is distinguishable from 0.
  ctx.metric('low_delta_bpb', dbpb.lowMean, w);
  ctx.metric('high_delta_bpb', dbpb.highMean, w);
  ctx.metric('low_delta_bpb_lo', dbpb.lowLo, w);
  ctx.metric('low_delta_bpb_hi', dbpb.lowHi, w);
  ctx.metric('high_delta_bpb_lo', dbpb.highLo, w);
  ctx.metric('high_delta_bpb_hi', dbpb.highHi, w);
  ctx.metric('unseen_languages', langs.unseen.length, w);
  if (langs.unseen.length) {
    // The unseen group against the high-resource one, on the same paired draws as the main ratio.
    const u = disparity(c, { low: langs.unseen, high: langs.high }, 'deltaBpb', o);
    recordInterval(ctx, 'group_delta_bpb', u.lowMean, { lo: u.lowLo, hi: u.lowHi }, { model: alias, language: UNSEEN });
    recordInterval(ctx, 'unseen_delta_bpb', u.lowMean, { lo: u.lowLo, hi: u.lowHi }, w);
  } else {
    // Recorded as NaN (stored with its flag) so that a rule can always name it: "unseen languages: 0 (n/a)".
    recordInterval(ctx, 'unseen_delta_bpb', NaN, { lo: NaN, hi: NaN }, w);
  }
  return { dbpb, ppl, klpb };
}

// ---------------------------------------------------------------- per-unit artifact (A-002 → A-003)

export const UNITS_FILE = 'units.json';

interface UnitRecord {
  lang: string;
  id: string;
  fp: TextTotals;
  q: TextTotals;
  top1Agree: number;
  klSum: number;
  klCount: number;
}

/** Writes the per-unit comparisons as the replicate's units.json artifact (read by A-003 and B-011). */
export function writeUnits(ctx: Pick<KindContext<unknown>, 'workDir' | 'artifact'>, c: Comparisons): void {
  const file = join(ctx.workDir, UNITS_FILE);
  writeFileSync(file, JSON.stringify(comparisonsToJson(c)));
  ctx.artifact(file);
}

/** Per-unit totals of a comparison, for experiments that recompute statistics without rerunning models. */
export function comparisonsToJson(c: Comparisons): { format: 1; units: UnitRecord[] } {
  const units: UnitRecord[] = [];
  for (const [lang, m] of c) {
    for (const [id, u] of m) {
      let klSum = 0;
      for (let i = 0; i < u.kl.length; i++) klSum += u.kl[i];
      units.push({ lang, id, fp: u.fp, q: u.q, top1Agree: u.top1Agree, klSum, klCount: u.kl.length });
    }
  }
  return { format: 1, units };
}

/** Back from JSON; KL survives only as its per-unit mean (spread over the unit's positions). */
export function comparisonsFromJson(j: { format: number; units: UnitRecord[] }): Comparisons {
  if (j.format !== 1) throw new DataError(`per-unit results of format ${j.format} are not readable by this version; rerun the experiment that wrote them`);
  const out: Comparisons = new Map();
  for (const u of j.units) {
    if (!out.has(u.lang)) out.set(u.lang, new Map());
    const kl = new Float64Array(u.klCount).fill(u.klCount ? u.klSum / u.klCount : 0);
    out.get(u.lang)!.set(u.id, { fp: u.fp, q: u.q, top1Agree: u.top1Agree, kl });
  }
  return out;
}

/** ΔBPB of a set of units, for bootstraps written by hand (C-002). */
export function deltaBpbOf(units: readonly TextComparison[]): number {
  return deltaMeasures(sumTotals(units.map((u) => u.fp)), sumTotals(units.map((u) => u.q))).deltaBpb;
}

export { mean as meanOf };
