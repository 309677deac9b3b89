// The study's texts: its languages (groups high, low and, per model, unseen), the pipeline's corpus
// and its settings, the replicate's evaluation and calibration splits, the training hold-out check
// and the tokenised units. Reference: DESIGN.md §6 (a replicate draws its evaluation and calibration
// subsets with its own seed; the training split depends only on the training seed).
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

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { alignedUnitIds, unitsById, type Corpus } from '../data/corpus.ts';
import { openCorpus } from '../data/user.ts';
import { checkAdequacy, DEFAULT_MIN_UNITS } from '../data/adequacy.ts';
import { DEFAULT_SPLIT_SHARES, splitUnits, UDHR_UNIT_IDS } from '../data/splits.ts';
import { describeBos, encodeWithBos, type BosPlan } from '../eval/bos.ts';
import { ConfigError, DataError } from '../errors.ts';
import type { TextTokenizer } from '../model/tokenizer.ts';
import type { KindContext } from '../pipeline/kind.ts';
import { Rng, deriveSeed } from '../util/rng.ts';

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
    throw new ConfigError(
      `the study needs language groups 'high' and 'low' in the pipeline's corpus.groups (have: ${Object.keys(groups).join(', ') || 'none'})`,
    );
  }
  const both = high.filter((l) => low.includes(l));
  if (both.length)
    throw new ConfigError(`language(s) ${both.join(', ')} are in both the high and the low group; put each in one`);
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
    throw new ConfigError(
      `every ${high.length === 0 ? 'high' : 'low'}-resource language is unseen by the model (${[...u].join(', ')}); the study needs seen languages in both groups — change corpus.groups or corpus.unseen`,
    );
  }
  return { high, low, unseen: langs.all.filter((l) => u.has(l)), all: langs.all };
}

/**
 * The study languages model `alias` never saw: those named in the pipeline's `corpus.unseen` (a list
 * for every model, or `{ alias: [codes] }`), plus, for a model folder holding the trainer's
 * training.json, the study languages absent from its training text (share 0 in its mix).
 * `iso` maps a study code to the code training.json uses (ISO 639-3).
 */
export function unseenLanguages(
  corpus: Readonly<Record<string, unknown>>,
  alias: string,
  modelDir: string | undefined,
  langs: readonly string[],
  iso: (l: string) => string = (l) => l,
): string[] {
  const declared = studyCorpusOptions(corpus).unseen;
  const named = Array.isArray(declared) ? declared : (declared[alias] ?? []);
  const out = new Set(named.filter((l) => langs.includes(l)));
  const rec = modelDir ? readTrainingRecord(modelDir) : null;
  if (rec?.languages) for (const l of langs) if (!rec.languages.includes(iso(l))) out.add(l);
  return langs.filter((l) => out.has(l));
}

/** The study languages for model `alias` of the experiment, its unseen languages split out. */
export function languagesFor(
  ctx: Pick<KindContext<unknown>, 'corpus' | 'groups'> & { models?: KindContext<unknown>['models'] },
  alias: string,
  iso?: (l: string) => string,
): StudyLanguages {
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

/** `corpus.split`: the training seed and the shares of the training and calibration splits (src/data/splits.ts). */
const SplitSettings = z
  .strictObject({
    trainingSeed: z.number().int().optional(),
    trainingShare: z.number().min(0).lt(1).optional(),
    calibrationShare: z.number().min(0).lt(1).optional(),
  })
  .refine(
    (x) =>
      (x.trainingShare ?? DEFAULT_SPLIT_SHARES.trainingShare) +
        (x.calibrationShare ?? DEFAULT_SPLIT_SHARES.calibrationShare) <
      1,
    {
      message: 'the shares leave nothing to evaluate (trainingShare + calibrationShare ≥ 1); lower one of them',
    },
  );

const Group = (name: string) =>
  z
    .array(z.string(), { error: `the study needs a language group '${name}': a list of language codes` })
    .min(1, `the study's group '${name}' needs at least one language`);

/**
 * The study's settings in the pipeline's `corpus` section, exported by the kinds module so that the
 * pipeline engine checks them when the file is loaded (`langquant plan` names the line of a typo).
 */
export const StudyCorpusSettings = CorpusOptions.extend({
  split: SplitSettings.optional(),
  groups: z.looseObject(
    { high: Group('high'), low: Group('low') },
    { error: "the study needs language groups 'high' and 'low' in corpus.groups" },
  ),
});

/** Reads and checks `corpus.includeIncomplete`, `corpus.adequacy` and `corpus.minUnits`. */
export function studyCorpusOptions(corpus: Readonly<Record<string, unknown>>): StudyCorpusOptions {
  const r = CorpusOptions.safeParse({
    includeIncomplete: corpus.includeIncomplete,
    adequacy: corpus.adequacy,
    minUnits: corpus.minUnits,
    unseen: corpus.unseen,
  });
  if (!r.success) {
    const i = r.error.issues[0];
    throw new ConfigError(
      `corpus.${i.path.join('.')} in the pipeline file: ${i.message}; use includeIncomplete: true|false, adequacy: warn|refuse, minUnits: an integer ≥ 2, unseen: [codes] or { alias: [codes] }`,
    );
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
function splitSettings(corpus: Readonly<Record<string, unknown>>): {
  trainingSeed?: number;
  trainingShare?: number;
  calibrationShare?: number;
} {
  const s = (corpus.split ?? {}) as Record<string, unknown>;
  const num = (k: string) => (typeof s[k] === 'number' ? (s[k] as number) : undefined);
  return {
    trainingSeed: num('trainingSeed'),
    trainingShare: num('trainingShare'),
    calibrationShare: num('calibrationShare'),
  };
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
export function studyTexts(
  ctx: Pick<KindContext<unknown>, 'corpus' | 'groups' | 'seed'> & { models?: KindContext<unknown>['models'] },
  maxUnits?: number,
  alias?: string,
): StudyTexts {
  const all = studyLanguages(ctx.groups);
  const corpus = studyCorpus(ctx.corpus, all.all);
  const langs = alias !== undefined ? languagesFor(ctx, alias, (l) => corpus.iso6393(l)) : all;
  const ids = alignedUnitIds(corpus, langs.all);
  if (ids.length < 3)
    throw new DataError(
      `the study languages share only ${ids.length} aligned unit(s) in corpus ${corpus.name}; use languages with complete texts`,
    );
  const split = splitUnits(ids, { seed: ctx.seed, ...splitSettings(ctx.corpus) });
  let evaluation = split.evaluation;
  if (maxUnits !== undefined && evaluation.length > maxUnits) {
    // A subset drawn with the replicate seed, kept in corpus order.
    const pick = new Set(
      new Rng(deriveSeed(ctx.seed, 'evaluation-subset')).shuffle([...evaluation]).slice(0, maxUnits),
    );
    evaluation = evaluation.filter((id) => pick.has(id));
  }
  const model = alias !== undefined ? ctx.models?.[alias] : undefined;
  if (model)
    checkTrainingHoldOut(alias!, model.path, {
      corpus: corpusSpec(ctx.corpus),
      languages: langs.all.map((l) => corpus.iso6393(l)),
      evaluation,
    });
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
    throw new DataError(
      `${file} is not readable JSON (${(e as Error).message}); restore it from \`langquant train\` or remove it`,
    );
  }
  const data = j.data ?? {};
  const seedInText = typeof data.split === 'string' ? /trainingSeed\s+(\d+)/.exec(data.split)?.[1] : undefined;
  const trainingSeed =
    typeof data.trainingSeed === 'number' ? data.trainingSeed : seedInText !== undefined ? Number(seedInText) : 0;
  const trainingShare =
    typeof data.trainingShare === 'number' ? data.trainingShare : DEFAULT_SPLIT_SHARES.trainingShare;
  const tokens = data.trainTokens && typeof data.trainTokens === 'object' ? Object.keys(data.trainTokens) : null;
  const shares = j.mix?.shares
    ? Object.entries(j.mix.shares)
        .filter(([, v]) => v > 0)
        .map(([k]) => k)
    : null;
  return {
    corpus: typeof data.corpus === 'string' ? data.corpus : 'udhr',
    trainingSeed,
    trainingShare,
    languages: tokens ?? shares,
  };
}

/**
 * Refuses (ConfigError) when an evaluation unit of a study language was in the training text of the
 * model in `dir` (per its training.json). Only a model trained on the same corpus is compared; the
 * training units are the data layer's split with the model's trainingSeed and share.
 */
export function checkTrainingHoldOut(
  alias: string,
  dir: string,
  o: { corpus: string; languages: readonly string[]; evaluation: readonly string[] },
): void {
  const rec = readTrainingRecord(dir);
  if (!rec || rec.corpus !== o.corpus || rec.corpus !== 'udhr') return; // unit ids of other corpora name other texts
  const trained = rec.languages === null ? [...o.languages] : o.languages.filter((l) => rec.languages!.includes(l));
  if (trained.length === 0) return;
  const training = new Set(
    splitUnits(UDHR_UNIT_IDS, {
      seed: 0,
      trainingSeed: rec.trainingSeed,
      trainingShare: rec.trainingShare,
      calibrationShare: 0,
    }).training,
  );
  const overlap = o.evaluation.filter((id) => training.has(id));
  if (overlap.length === 0) return;
  throw new ConfigError(
    `model '${alias}' (${dir}) was trained on evaluation unit(s) ${overlap.join(', ')} in ${trained.join(', ')} (its training.json: trainingSeed ${rec.trainingSeed}, trainingShare ${rec.trainingShare}); ` +
      `set corpus.split.trainingSeed to ${rec.trainingSeed} and trainingShare to at least ${rec.trainingShare}, or use a model not trained on these units`,
  );
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
  const measured = [...texts].map(([lang, units]) => ({
    lang,
    units: units.length,
    tokens: units.reduce((a, u) => a + u.ids.length, 0),
  }));
  const { warnings } = checkAdequacy(measured, {
    contextTokens: Math.max(2, m.window.context),
    minUnits: o.minUnits,
    mode: o.adequacy,
  });
  for (const w of warnings) ctx.log(`adequacy warning: ${w.message}`);
  ctx.metric('adequacy_warnings', warnings.length, { model: m.alias });
  ctx.metric('bos_prepended', m.bos?.id != null ? 1 : 0, { model: m.alias });
  ctx.log(
    `${m.alias}: ${m.bos ? describeBos(m.bos, 'params.bos') : 'BOS: none; the first token of each unit is context only, not scored.'}`,
  );
  return texts;
}

/**
 * Per language, the evaluation units as texts and token ids, `bos` first when given (units with fewer than 2 ids are
 * dropped).
 */
export function tokenizeUnits(
  corpus: Corpus,
  langs: readonly string[],
  ids: readonly string[],
  tok: Pick<TextTokenizer, 'encode'>,
  bos?: BosPlan | null,
): Map<string, UnitText[]> {
  const out = new Map<string, UnitText[]>();
  for (const lang of langs) {
    const units = unitsById(corpus, lang, ids)
      .map((u) => ({ id: u.id, text: u.text, ids: Int32Array.from(encodeWithBos(tok, u.text, bos)) }))
      .filter((u) => u.ids.length >= 2);
    if (units.length === 0)
      throw new DataError(
        `language ${lang} has no evaluation unit of 2 tokens or more; check its text in corpus ${corpus.name}`,
      );
    out.set(lang, units);
  }
  return out;
}

/** Token sequences of the calibration units of `langs` (one joined text per language, `bos` first when given). */
export function calibrationSequences(
  corpus: Corpus,
  langs: readonly string[],
  ids: readonly string[],
  tok: Pick<TextTokenizer, 'encode'>,
  bos?: BosPlan | null,
): Int32Array[] {
  return langs
    .map((lang) =>
      Int32Array.from(
        encodeWithBos(
          tok,
          unitsById(corpus, lang, ids)
            .map((u) => u.text)
            .join('\n'),
          bos,
        ),
      ),
    )
    .filter((s) => s.length >= 2);
}
/**
 * The selection units of every study language, tokenised: the replicate's calibration units. A
 * choice made from measurements (the optimal share of B-004, the critical blocks of C-001) is made on
 * these, and the evaluation units then test it without having chosen it (no double dipping).
 */
export function selectionTexts(
  t: Pick<StudyTexts, 'corpus' | 'langs' | 'calibration'>,
  m: { tokenizer: Pick<TextTokenizer, 'encode'>; bos?: BosPlan | null },
): Map<string, UnitText[]> {
  if (t.calibration.length === 0)
    throw new DataError('the split has no calibration units to select on; set corpus.split.calibrationShare above 0');
  return tokenizeUnits(t.corpus, t.langs.all, t.calibration, m.tokenizer, m.bos);
}
