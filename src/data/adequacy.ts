// Is a language's evaluation text long enough to say anything? Two checks, per language:
//   1. WINDOW: its evaluation text has fewer tokens than one scoring window (the model's context,
//      or --context). Languages scored with shorter contexts than others are not compared on equal
//      terms, and a text that fits in one window gives one window's worth of evidence.
//   2. UNITS: it has fewer aligned units than `minUnits` (default 10); a bootstrap interval from
//      resampling so few articles or sentences is too coarse to be meaningful.
// Mode 'warn' (default) returns the findings as warnings; mode 'refuse' throws one DataError
// listing them all, so a study stops before spending time on results it cannot trust.
//
// Public API:
//   checkAdequacy(measures, opts) → { ok, warnings: AdequacyIssue[] }
//   measureEvaluationText(corpus, languages, unitIds, tokenizer) → AdequacyMeasure[]
// The tokenizer is any object with encode(text) → ids (src/model/tokenizer.ts's TextTokenizer fits).

import { ConfigError, DataError } from '../errors.ts';
import { joinUnits, unitsById, type Corpus } from './corpus.ts';

export interface AdequacyMeasure {
  lang: string;
  /** Tokens of the language's evaluation text (units joined as scored). */
  tokens: number;
  /** Aligned units in the evaluation text. */
  units: number;
}

export interface AdequacyOptions {
  /** Tokens in one scoring window (the model's context or --context). */
  contextTokens: number;
  /** Fewest units for a bootstrap interval. Default 10. */
  minUnits?: number;
  mode?: 'warn' | 'refuse';
}

export interface AdequacyIssue {
  lang: string;
  kind: 'shorter-than-window' | 'too-few-units';
  message: string;
}

export const DEFAULT_MIN_UNITS = 10;

export function checkAdequacy(
  measures: readonly AdequacyMeasure[],
  opts: AdequacyOptions,
): { ok: boolean; warnings: AdequacyIssue[] } {
  if (!(Number.isInteger(opts.contextTokens) && opts.contextTokens > 1))
    throw new ConfigError(`adequacy check: contextTokens must be an integer > 1, got ${opts.contextTokens}`);
  const minUnits = opts.minUnits ?? DEFAULT_MIN_UNITS;
  const issues: AdequacyIssue[] = [];
  for (const m of measures) {
    if (m.tokens < opts.contextTokens) {
      issues.push({
        lang: m.lang,
        kind: 'shorter-than-window',
        message: `${m.lang}: evaluation text is ${m.tokens} tokens, shorter than one scoring window of ${opts.contextTokens}; use more text (more units or a larger corpus) or a smaller --context`,
      });
    }
    if (m.units < minUnits) {
      issues.push({
        lang: m.lang,
        kind: 'too-few-units',
        message: `${m.lang}: only ${m.units} aligned units in the evaluation text (at least ${minUnits} are needed for a meaningful bootstrap interval); use a larger evaluation share or corpus`,
      });
    }
  }
  if (issues.length > 0 && (opts.mode ?? 'warn') === 'refuse') {
    throw new DataError(`evaluation text inadequate — ${issues.map((i) => i.message).join('; ')}`);
  }
  return { ok: issues.length === 0, warnings: issues };
}

/** Token and unit counts of each language's evaluation text (the given unit ids, joined as scored). */
export function measureEvaluationText(
  corpus: Corpus,
  languages: readonly string[],
  unitIds: readonly string[],
  tokenizer: { encode(text: string): number[] },
): AdequacyMeasure[] {
  return languages.map((lang) => {
    const units = unitsById(corpus, lang, unitIds);
    return { lang, tokens: tokenizer.encode(joinUnits(units)).length, units: units.length };
  });
}
