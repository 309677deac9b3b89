// Calibration sources for the calibrated methods (GPTQ, AWQ) of phase E: `high`, `low`, `all`, a list
// of languages, or `target` (each evaluated language quantised with its own calibration text: one
// quantised model per language). Equal budgets: every source of a replicate gets the same number of
// calibration tokens, B = min(calibrationTokens, the calibration-split tokens of `high`, of `low`, of
// `all` and of every single study language) — so a language with less text lowers the budget of every
// source (nothing is repeated or padded), and E-003's arms differ only in which language the tokens
// are. Within a source, the budget is shared fairly between its languages (calibrationWindows: each
// keeps the start of its text up to a common quota), which can leave up to one token per language unused.
// Reference: issue 13 "Calibration language"; src/quant/calibrate.ts.

import { z } from 'zod';
import { calibrationWindows } from '../quant/calibrate.ts';
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

/** The calibration sets a source asks for: one, or one per evaluated language for `target`. */
export function calibrationSets(langs: StudyTexts['langs'], source: CalibrationSource): CalibrationSet[] {
  if (Array.isArray(source)) return [{ label: source.join(','), langs: source }];
  if (source === 'target') return langs.all.map((l) => ({ label: l, langs: [l], target: l }));
  return [{ label: source, langs: source === 'all' ? langs.all : langs[source] }];
}

/** B = min(cap, tokens available to each of high, low, all and every single language). */
export function equalBudget(available: ReadonlyMap<string, number>, langs: StudyTexts['langs'], cap: number): number {
  const total = (ls: readonly string[]) => ls.reduce((a, l) => a + (available.get(l) ?? 0), 0);
  const candidates = [cap, total(langs.high), total(langs.low), total(langs.all), ...langs.all.map((l) => available.get(l) ?? 0)];
  return Math.max(0, Math.min(...candidates));
}

/** Calibration windows of one set under the replicate's equal budget, and their token count. */
export function calibrationWindowsFor(t: Pick<StudyTexts, 'corpus' | 'langs' | 'calibration'>, m: Pick<OpenModel, 'tokenizer' | 'bos' | 'window'>, set: CalibrationSet, cap: number): { windows: Int32Array[]; tokens: number; budget: number } {
  const available = new Map<string, number>();
  for (const l of t.langs.all) available.set(l, calibrationSequences(t.corpus, [l], t.calibration, m.tokenizer, m.bos).reduce((a, s) => a + s.length, 0));
  const budget = equalBudget(available, t.langs, cap);
  const seqs = calibrationSequences(t.corpus, set.langs, t.calibration, m.tokenizer, m.bos);
  const windows = calibrationWindows(seqs, m.window.context, budget);
  return { windows, tokens: windows.reduce((a, w) => a + w.length, 0), budget };
}
