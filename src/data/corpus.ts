// The corpus abstraction every part of langquant reads text through, and the helpers around it.
//
// A Corpus holds, for each language, a list of text units (UDHR articles, FLORES sentences,
// paragraphs of a user's file). Units with the same id are translations of each other, so
// "article-12" in Swahili and "article-12" in English say the same thing: comparisons between
// languages are made on the units all of them share (`alignedUnitIds`).
//
// Public API:
//   interface Corpus { name; languages; units(lang); iso6393(lang); script?(lang) }
//   alignedUnitIds(corpus, languages?)      ids present in every named language, in corpus order
//   unitsById(corpus, lang, ids)            those units of one language, in the order of `ids`
//   joinUnits(units)                        one text for scoring: unit texts joined by "\n"
//   textStats(text)                         UTF-8 bytes, characters (code points) and words
// Loaders live in udhr.ts (built-in corpus) and user.ts (folders, FLORES-200, JSON Lines).

import { DataError } from '../errors.ts';

export interface CorpusUnit {
  /** Stable id, equal across languages for aligned (translated) units. */
  id: string;
  /** NFC text of the unit; paragraphs inside a unit are separated by "\n". */
  text: string;
}

export interface Corpus {
  /** Short name for reports and fingerprints, e.g. "udhr" or "folder:/data/mine". */
  name: string;
  /** Language keys as the corpus knows them (ISO 639-3 codes, or UDHR entry codes when named). */
  languages: string[];
  /** Units of one language in corpus order; throws DataError for a language the corpus lacks. */
  units(lang: string): CorpusUnit[];
  /** ISO 639-3 code of a language key (e.g. "cmn_hant" → "cmn", "swh_Latn" → "swh"). */
  iso6393(lang: string): string;
  /**
   * ISO 15924 script the corpus itself declares for a language key, or null: a FLORES-style key
   * suffix ("zho_Hant" → "Hant"), a UDHR entry's BCP 47 script subtag ("srp_latn" → "Latn").
   * It overrides the registry's usual script when the text is checked.
   */
  script?(lang: string): string | null;
}

/** Ids of the units every one of `languages` (default: all of the corpus's) has, in the order of the first language. */
export function alignedUnitIds(corpus: Corpus, languages: string[] = corpus.languages): string[] {
  if (languages.length === 0) return [];
  const sets = languages.map((l) => new Set(corpus.units(l).map((u) => u.id)));
  return corpus
    .units(languages[0])
    .map((u) => u.id)
    .filter((id) => sets.every((s) => s.has(id)));
}

/** The units of `lang` with the given ids, in the order of `ids`; a missing id is a DataError. */
export function unitsById(corpus: Corpus, lang: string, ids: readonly string[]): CorpusUnit[] {
  const byId = new Map(corpus.units(lang).map((u) => [u.id, u]));
  return ids.map((id) => {
    const u = byId.get(id);
    if (!u)
      throw new DataError(
        `corpus ${corpus.name}: language ${lang} has no unit "${id}"; compare languages on alignedUnitIds(corpus, languages)`,
      );
    return u;
  });
}

/** One text for scoring: the unit texts joined by a newline (the separator is part of the scored text). */
export function joinUnits(units: readonly CorpusUnit[]): string {
  return units.map((u) => u.text).join('\n');
}

export interface TextStats {
  /** UTF-8 bytes. */
  bytes: number;
  /** Unicode code points (after NFC, which every loader applies). */
  chars: number;
  /**
   * Runs of non-whitespace (the Ethiopic wordspace ፡ also separates); scripts written without spaces (Han, Thai, Khmer,
   * …) have few such "words".
   */
  words: number;
}

export function textStats(text: string): TextStats {
  let chars = 0;
  for (const _ of text) chars++;
  const words = text.split(/[\s\u1361]+/u).filter((w) => w.length > 0).length;
  return { bytes: Buffer.byteLength(text, 'utf8'), chars, words };
}

/**
 * Decodes bytes as strict UTF-8 (a byte-order mark is dropped) and normalises to NFC; invalid bytes are a DataError
 * naming `file`.
 */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    // Report the offset of the first bad byte: a decoder that stops there tells us where.
    const at = firstInvalidUtf8(bytes);
    throw new DataError(
      `${file}: not valid UTF-8 (first bad byte at offset ${at}); convert the file to UTF-8 (e.g. iconv -t UTF-8)`,
    );
  }
  return text.normalize('NFC');
}

function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    let n = 0;
    let min = 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      min = 0x10000;
    } else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return b.length;
}
