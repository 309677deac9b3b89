// Calibration sources for the calibrated methods (GPTQ, AWQ) of phase E: `high`, `low`, `all`, a list
// of study languages, or `target` (each evaluated language quantised with its own calibration text: one
// quantised model per language). The text is the replicate's calibration split only (never an
// evaluation unit), one joined text per language.
//
// Equal budgets: every source of a replicate gets exactly the same number of calibration tokens,
// B = min(calibrationTokens, the calibration-split tokens of every single study language). Taking the
// minimum over single languages is what lets `target` (and a one-language list) give B tokens too, so a
// language with less text lowers the budget of every source: nothing is repeated, padded or cycled,
// and E-003's arms differ only in which languages the tokens are. Within a source of n languages the
// budget is shared fairly (budgetWindows): each language keeps the start of its text up to a common
// quota q, and the B − n·q tokens left over go one each to the first languages (in the source's order)
// with text beyond q. Each language's share is cut into windows of at most the model's context.
// Reference: issue 13 "Calibration language"; src/quant/calibrate.ts (the same cut, without the remainder).

import { z } from 'zod';
import type { BosPlan } from '../eval/bos.ts';
import { ConfigError } from '../errors.ts';
import type { TextTokenizer } from '../model/tokenizer.ts';
import { commonQuota } from '../quant/calibrate.ts';
import { calibrationSequences, type OpenModel, type StudyTexts } from './common.ts';

export const CalibrationSource = z.union([z.enum(['all', 'high', 'low', 'target']), z.array(z.string()).min(1)]);
export type CalibrationSource = z.infer<typeof CalibrationSource>;

export interface CalibrationSet {
  /** 'all', 'high', 'low', the list joined by ',', or the target language. */
  readonly label: string;
  readonly langs: readonly string[];
  /** For `target`: the one language this set's model is evaluated on. */
  readonly target?: string;
}

/**
 * The calibration sets a source asks for: one, or one per evaluated language for `target`. A list
 * names study languages (the ones whose calibration text the budget was measured on), each once.
 */
export function calibrationSets(langs: StudyTexts['langs'], source: CalibrationSource): CalibrationSet[] {
  if (Array.isArray(source)) {
    const unknown = source.filter((l) => !langs.all.includes(l));
    if (unknown.length) {
      throw new ConfigError(
        `calibration language(s) ${unknown.join(', ')} are not study languages (${langs.all.join(', ')}); ` +
          'list study languages or use high, low, all or target',
      );
    }
    const twice = source.filter((l, i) => source.indexOf(l) !== i);
    if (twice.length)
      throw new ConfigError(
        `calibration language(s) ${[...new Set(twice)].join(', ')} are listed twice; list each once`,
      );
    return [{ label: source.join(','), langs: source }];
  }
  if (source === 'target') return langs.all.map((l) => ({ label: l, langs: [l], target: l }));
  return [{ label: source, langs: source === 'all' ? langs.all : langs[source] }];
}

/** B = min(cap, the tokens available to every single study language); see the file comment. */
export function equalBudget(
  available: ReadonlyMap<string, number>,
  langs: Pick<StudyTexts['langs'], 'all'>,
  cap: number,
): number {
  return Math.max(0, Math.min(cap, ...langs.all.map((l) => available.get(l) ?? 0)));
}

/**
 * Tokens each sequence gives to a budget: a common quota q (the largest with Σ min(length, q) ≤
 * budget), plus one token each for the first sequences longer than q until the budget is spent.
 * The shares sum to min(budget, Σ lengths).
 */
export function budgetShares(lengths: readonly number[], budget: number): number[] {
  const q = commonQuota(lengths, budget);
  const shares = lengths.map((n) => Math.min(n, q));
  let left = budget - shares.reduce((a, n) => a + n, 0);
  for (let i = 0; i < lengths.length && left > 0; i++) {
    if (lengths[i] > shares[i]) {
      shares[i]++;
      left--;
    }
  }
  return shares;
}

/** Windows of at most `context` tokens over each sequence's share of the budget (budgetShares). */
export function budgetWindows(sequences: readonly Int32Array[], context: number, budget: number): Int32Array[] {
  const shares = budgetShares(
    sequences.map((s) => s.length),
    budget,
  );
  const out: Int32Array[] = [];
  sequences.forEach((s, k) => {
    for (let i = 0; i < shares[k]; i += context) out.push(s.slice(i, Math.min(shares[k], i + context)));
  });
  return out;
}

/** What a replicate's sources share: each study language's calibration text, tokenised, and the budget B. */
export interface CalibrationBudget {
  readonly sequences: ReadonlyMap<string, Int32Array>;
  /** Calibration-split tokens per study language. */
  readonly available: ReadonlyMap<string, number>;
  readonly budget: number;
  /** The language(s) whose text sets B when B is below the cap (the shortest), else []. */
  readonly limitedBy: readonly string[];
}

/** Tokenises each study language's calibration text once and fixes the replicate's equal budget. */
export function calibrationBudget(
  t: Pick<StudyTexts, 'corpus' | 'langs' | 'calibration'>,
  m: { tokenizer: Pick<TextTokenizer, 'encode'>; bos?: BosPlan | null },
  cap: number,
): CalibrationBudget {
  const sequences = new Map<string, Int32Array>();
  const available = new Map<string, number>();
  for (const l of t.langs.all) {
    const s = calibrationSequences(t.corpus, [l], t.calibration, m.tokenizer, m.bos)[0] ?? new Int32Array(0);
    sequences.set(l, s);
    available.set(l, s.length);
  }
  const budget = equalBudget(available, t.langs, cap);
  const limitedBy = budget < cap ? t.langs.all.filter((l) => available.get(l) === budget) : [];
  if (budget === 0) {
    const empty = t.langs.all.filter((l) => (available.get(l) ?? 0) === 0);
    throw new ConfigError(
      `no calibration text for ${empty.join(', ')} in this replicate's calibration split; ` +
        'raise corpus.split.calibrationShare or drop the language',
    );
  }
  return { sequences, available, budget, limitedBy };
}

/** Calibration windows of one set under the replicate's equal budget, and their token count (= budget). */
export function setWindows(
  b: CalibrationBudget,
  set: CalibrationSet,
  context: number,
): { windows: Int32Array[]; tokens: number } {
  const windows = budgetWindows(
    set.langs.map((l) => b.sequences.get(l)!),
    context,
    b.budget,
  );
  return { windows, tokens: windows.reduce((a, w) => a + w.length, 0) };
}

/** Calibration windows of one set under the replicate's equal budget, and their token count. */
export function calibrationWindowsFor(
  t: Pick<StudyTexts, 'corpus' | 'langs' | 'calibration'>,
  m: Pick<OpenModel, 'tokenizer' | 'bos' | 'window'>,
  set: CalibrationSet,
  cap: number,
): { windows: Int32Array[]; tokens: number; budget: number } {
  const b = calibrationBudget(t, m, cap);
  return { ...setWindows(b, set, m.window.context), budget: b.budget };
}
