// Tokenizer fairness on parallel text (Petrov et al., NeurIPS 2023, "Language Model Tokenizers
// Introduce Unfairness Between Languages"): how many tokens a tokenizer needs for the same content
// in each language.
//
// For each language, over the aligned units every compared language has (so all see the same
// content): tokens, UTF-8 bytes, characters (code points) and words (whitespace-separated runs;
// scripts written without spaces have few "words", so tokens per word is large there by
// construction). Each unit is tokenised on its own and the counts summed, as Petrov et al. do per
// sentence. Ratios: tokens per byte, per character, per word. PREMIUM = tokens(lang) /
// tokens(reference) on the same units (reference default English): 1.0 for parity, 3.0 when the
// language needs three times as many tokens to say the same thing.
//
// Public API:
//   tokenizerFertility(corpus, tokenizer, opts?) → { reference, unitIds, rows: FertilityRow[] }

import { DataError } from '../errors.ts';
import { alignedUnitIds, textStats, unitsById, type Corpus } from './corpus.ts';

export interface FertilityRow {
  lang: string;
  iso6393: string;
  units: number;
  tokens: number;
  bytes: number;
  chars: number;
  words: number;
  tokensPerByte: number;
  tokensPerChar: number;
  tokensPerWord: number;
  /** tokens / reference tokens on the same units; null when the reference is not in the corpus. */
  premium: number | null;
}

export interface FertilityResult {
  /** The reference language key the premium is relative to, or null when absent. */
  reference: string | null;
  /** The aligned units all languages were measured on. */
  unitIds: string[];
  rows: FertilityRow[];
}

export function tokenizerFertility(
  corpus: Corpus,
  tokenizer: { encode(text: string): number[] },
  opts: { languages?: readonly string[]; reference?: string } = {},
): FertilityResult {
  const languages = [...(opts.languages ?? corpus.languages)];
  if (languages.length === 0) throw new DataError('no languages to measure; name at least one');
  const refName = opts.reference ?? 'eng';
  // The reference may be named by ISO code while the corpus key carries a script ("eng_Latn").
  const reference = corpus.languages.includes(refName)
    ? refName
    : (corpus.languages.find((l) => corpus.iso6393(l) === refName) ?? null);
  const measured = reference && !languages.includes(reference) ? [...languages, reference] : languages;
  const unitIds = alignedUnitIds(corpus, measured);
  if (unitIds.length === 0)
    throw new DataError(
      `corpus ${corpus.name}: the languages ${measured.join(', ')} share no aligned units, so their token counts cannot be compared`,
    );
  const count = (lang: string) => {
    let tokens = 0,
      bytes = 0,
      chars = 0,
      words = 0;
    for (const u of unitsById(corpus, lang, unitIds)) {
      tokens += tokenizer.encode(u.text).length;
      const s = textStats(u.text);
      bytes += s.bytes;
      chars += s.chars;
      words += s.words;
    }
    return { tokens, bytes, chars, words };
  };
  const counts = new Map(measured.map((l) => [l, count(l)]));
  const refTokens = reference ? counts.get(reference)!.tokens : 0;
  const rows = languages.map((lang): FertilityRow => {
    const c = counts.get(lang)!;
    return {
      lang,
      iso6393: corpus.iso6393(lang),
      units: unitIds.length,
      ...c,
      tokensPerByte: c.tokens / c.bytes,
      tokensPerChar: c.tokens / c.chars,
      tokensPerWord: c.words > 0 ? c.tokens / c.words : Number.NaN,
      premium: reference && refTokens > 0 ? c.tokens / refTokens : null,
    };
  });
  return { reference, unitIds, rows };
}
