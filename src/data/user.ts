// Corpora a user brings: a folder of `<lang>.txt` files, a FLORES-200 style folder, a JSON Lines
// file. Every file is read as strict UTF-8 and normalised to NFC; anything unusable is a DataError
// naming the file (and the line where there is one).
//
// Formats and their units:
//   folderCorpus(dir, {unit})   `<lang>.txt` (or `<lang>_<Script>.txt`), one language per file.
//       unit 'paragraph' (default): blocks separated by blank lines, ids "p1", "p2", …
//       unit 'line': every non-blank line, ids "l1", "l2", … (blank lines are skipped but counted,
//       so line k of every file keeps id "l<k>"). Line units are taken to be aligned translations:
//       all files must have the same number of lines (set `aligned: false` to allow otherwise).
//   floresCorpus(dir, {split})  FLORES-200 layout: `dev/<lang>_<Script>.dev` and
//       `devtest/<lang>_<Script>.devtest`, one sentence per line, aligned across languages (line
//       counts must agree). split 'dev', 'devtest' or 'all' (default: both, ids "dev-1", "devtest-1", …).
//   jsonlCorpus(file)           one JSON object per line, {"lang": "swh", "text": "…", "id"?: "…"};
//       units in file order per language, ids from "id" when given (then aligned by id), else
//       "1", "2", … per language.
//   openCorpus(spec)            "udhr" → the built-in corpus; a folder with dev/ or devtest/ →
//       FLORES; another folder → folderCorpus; a .jsonl file → jsonlCorpus.
// Language codes are ISO 639-3 (optionally with an ISO 15924 script suffix, "swh_Latn") and must
// be in the language registry (data/languages.json) unless `allowUnregistered` is set; FLORES'
// macro-language code "zho" maps to "cmn".

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DataError } from '../errors.ts';
import { decodeUtf8, type Corpus, type CorpusUnit } from './corpus.ts';
import { findLanguage } from './registry.ts';
import { udhrCorpus, type UdhrCorpusOptions } from './udhr.ts';

export interface UserCorpusOptions {
  /** Accept language codes that are well formed but not in the registry. Default false. */
  allowUnregistered?: boolean;
  /** Only these language keys (file stems / lang values). Default: every language found. */
  languages?: readonly string[];
}

/** Codes FLORES-200 (and others) use where the registry has a more specific one. */
export const LANGUAGE_ALIASES: Readonly<Record<string, string>> = {
  zho: 'cmn',
  ara: 'arb',
  fas: 'pes',
  msa: 'zsm',
  swa: 'swh',
};

const KEY_RE = /^([a-z]{3})(?:_([A-Z][a-z]{3}))?$/;

/** ISO 639-3 code of a language key ("swh", "swh_Latn", "zho_Hans" → "cmn"). */
export function isoOfKey(key: string): string {
  const m = KEY_RE.exec(key);
  const iso = m ? m[1] : key;
  return LANGUAGE_ALIASES[iso] ?? iso;
}

/** ISO 15924 script suffix of a language key ("zho_Hant" → "Hant"), or null when it has none. */
export function scriptOfKey(key: string): string | null {
  return KEY_RE.exec(key)?.[2] ?? null;
}

function checkKey(key: string, where: string, opts: UserCorpusOptions): void {
  if (!KEY_RE.test(key)) {
    throw new DataError(
      `${where}: "${key}" is not a language code; name it by ISO 639-3 code, optionally with a script (e.g. swh or swh_Latn)`,
    );
  }
  if (!opts.allowUnregistered && !findLanguage(isoOfKey(key))) {
    throw new DataError(
      `${where}: unknown language code "${key}" (not in data/languages.json); use a registered ISO 639-3 code or add the language to the registry`,
    );
  }
}

function readText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new DataError(
      `${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path`,
    );
  }
  const text = decodeUtf8(bytes, file);
  if (text.trim().length === 0) throw new DataError(`${file} is empty; remove it or put the language's text in it`);
  return text;
}

function lines(text: string): string[] {
  const ls = text.split(/\r?\n/);
  if (ls.length > 0 && ls[ls.length - 1] === '') ls.pop(); // the final newline ends the last line
  return ls;
}

function makeCorpus(name: string, units: Map<string, CorpusUnit[]>, opts: UserCorpusOptions): Corpus {
  let keys = [...units.keys()];
  if (opts.languages) {
    for (const l of opts.languages)
      if (!units.has(l)) throw new DataError(`corpus ${name} has no language "${l}" (has: ${keys.join(', ')})`);
    keys = [...opts.languages];
  }
  return {
    name,
    languages: keys,
    units(lang: string): CorpusUnit[] {
      const u = units.get(lang);
      if (!u || !keys.includes(lang))
        throw new DataError(`corpus ${name} has no language "${lang}" (has: ${keys.join(', ')})`);
      return [...u];
    },
    iso6393: isoOfKey,
    script: scriptOfKey,
  };
}

function requireDir(dir: string, what: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new DataError(`${what} folder ${dir} does not exist; check the path`);
}

export interface FolderCorpusOptions extends UserCorpusOptions {
  unit?: 'paragraph' | 'line';
  /** Require equal unit counts across files. Default: true for line units, false for paragraphs. */
  aligned?: boolean;
}

export function folderCorpus(dir: string, opts: FolderCorpusOptions = {}): Corpus {
  requireDir(dir, 'corpus');
  const unit = opts.unit ?? 'paragraph';
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort();
  if (files.length === 0)
    throw new DataError(
      `corpus folder ${dir} has no <lang>.txt files; name each file by its language's ISO 639-3 code, e.g. swh.txt`,
    );
  const units = new Map<string, CorpusUnit[]>();
  const counts = new Map<string, number>();
  for (const f of files) {
    const key = f.slice(0, -4);
    const path = join(dir, f);
    checkKey(key, path, opts);
    if (units.has(key)) throw new DataError(`${path}: language "${key}" appears twice`);
    const text = readText(path);
    let us: CorpusUnit[];
    if (unit === 'line') {
      const ls = lines(text);
      counts.set(path, ls.length);
      us = ls.map((l, i) => ({ id: `l${i + 1}`, text: l.trim() })).filter((u) => u.text.length > 0);
    } else {
      const paras = text
        .split(/\r?\n[ \t]*\r?\n/)
        .map((p) =>
          p
            .split(/\r?\n/)
            .map((l) => l.trim())
            .filter((l) => l)
            .join('\n'),
        )
        .filter((p) => p.length > 0);
      counts.set(path, paras.length);
      us = paras.map((p, i) => ({ id: `p${i + 1}`, text: p }));
    }
    units.set(key, us);
  }
  if (opts.aligned ?? unit === 'line') checkCounts(counts, unit === 'line' ? 'lines' : 'paragraphs');
  return makeCorpus(`folder:${dir}`, units, opts);
}

function checkCounts(counts: Map<string, number>, what: string): void {
  const entries = [...counts.entries()];
  if (entries.length === 0) return;
  const [refFile, refN] = entries[0];
  for (const [file, n] of entries) {
    if (n !== refN) {
      const count = (k: number) => `${k} ${k === 1 ? what.slice(0, -1) : what}`;
      throw new DataError(
        `${file} has ${count(n)} but ${refFile} has ${count(refN)}; aligned files must have one translation per ${what.slice(0, -1)}, in the same order`,
      );
    }
  }
}

export interface FloresCorpusOptions extends UserCorpusOptions {
  split?: 'dev' | 'devtest' | 'all';
}

export function floresCorpus(dir: string, opts: FloresCorpusOptions = {}): Corpus {
  requireDir(dir, 'FLORES');
  const split = opts.split ?? 'all';
  const splits = split === 'all' ? (['dev', 'devtest'] as const).filter((s) => existsSync(join(dir, s))) : [split];
  if (splits.length === 0)
    throw new DataError(`FLORES folder ${dir} has neither dev/ nor devtest/; point at the folder that holds them`);
  const units = new Map<string, CorpusUnit[]>();
  const perSplitKeys: string[][] = [];
  for (const s of splits) {
    const sub = join(dir, s);
    requireDir(sub, `FLORES ${s}`);
    const suffix = `.${s}`;
    const files = readdirSync(sub)
      .filter((f) => f.endsWith(suffix))
      .sort();
    if (files.length === 0) throw new DataError(`${sub} has no <lang>_<Script>${suffix} files`);
    const counts = new Map<string, number>();
    const keys: string[] = [];
    for (const f of files) {
      const key = f.slice(0, -suffix.length);
      const path = join(sub, f);
      checkKey(key, path, opts);
      const ls = lines(readText(path));
      counts.set(path, ls.length);
      ls.forEach((l, i) => {
        if (l.trim().length === 0)
          throw new DataError(`${path} line ${i + 1} is blank; FLORES files hold one sentence on every line`);
      });
      const list = units.get(key) ?? [];
      list.push(...ls.map((l, i) => ({ id: `${s}-${i + 1}`, text: l.trim() })));
      units.set(key, list);
      keys.push(key);
    }
    checkCounts(counts, 'lines');
    perSplitKeys.push(keys);
  }
  if (perSplitKeys.length === 2) {
    const [a, b] = perSplitKeys;
    const missing = [
      ...a.filter((k) => !b.includes(k)).map((k) => `devtest/${k}.devtest`),
      ...b.filter((k) => !a.includes(k)).map((k) => `dev/${k}.dev`),
    ];
    if (missing.length > 0)
      throw new DataError(
        `FLORES folder ${dir} lacks ${missing.join(', ')}; every language needs both splits, or choose one split`,
      );
  }
  return makeCorpus(`flores:${dir}:${split}`, units, opts);
}

export function jsonlCorpus(file: string, opts: UserCorpusOptions = {}): Corpus {
  const text = readText(file);
  const units = new Map<string, CorpusUnit[]>();
  const seen = new Map<string, Set<string>>();
  lines(text).forEach((line, i) => {
    if (line.trim().length === 0) return;
    const where = `${file} line ${i + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      throw new DataError(`${where} is not JSON; each line must be an object like {"lang": "swh", "text": "…"}`);
    }
    const o = obj as { lang?: unknown; text?: unknown; id?: unknown };
    if (typeof obj !== 'object' || obj === null || typeof o.lang !== 'string' || typeof o.text !== 'string') {
      throw new DataError(`${where} needs string fields "lang" and "text"`);
    }
    if (o.id !== undefined && typeof o.id !== 'string' && typeof o.id !== 'number')
      throw new DataError(`${where}: "id" must be a string or number`);
    checkKey(o.lang, where, opts);
    const t = o.text.normalize('NFC').trim();
    if (t.length === 0) throw new DataError(`${where} has empty "text"`);
    const list = units.get(o.lang) ?? [];
    const id = o.id === undefined ? String(list.length + 1) : String(o.id);
    const ids = seen.get(o.lang) ?? new Set<string>();
    if (ids.has(id)) throw new DataError(`${where}: id "${id}" appears twice for language ${o.lang}`);
    ids.add(id);
    seen.set(o.lang, ids);
    list.push({ id, text: t });
    units.set(o.lang, list);
  });
  if (units.size === 0) throw new DataError(`${file} holds no records`);
  return makeCorpus(`jsonl:${basename(file)}`, units, opts);
}

export interface OpenCorpusOptions extends UserCorpusOptions, Omit<UdhrCorpusOptions, 'languages'> {
  unit?: 'paragraph' | 'line';
  split?: 'dev' | 'devtest' | 'all';
}

/** Opens a corpus by name or path: "udhr", a FLORES folder, a folder of <lang>.txt, or a .jsonl file. */
export function openCorpus(spec: string, opts: OpenCorpusOptions = {}): Corpus {
  if (spec === 'udhr') return udhrCorpus({ ...opts, languages: opts.languages });
  if (!existsSync(spec))
    throw new DataError(
      `corpus ${spec} does not exist; use "udhr", a folder of <lang>.txt files, a FLORES-200 folder or a .jsonl file`,
    );
  if (statSync(spec).isDirectory()) {
    if (existsSync(join(spec, 'dev')) || existsSync(join(spec, 'devtest'))) return floresCorpus(spec, opts);
    return folderCorpus(spec, opts);
  }
  if (spec.endsWith('.jsonl') || spec.endsWith('.json')) return jsonlCorpus(spec, opts);
  throw new DataError(
    `corpus ${spec} is a file but not .jsonl; pass a folder of <lang>.txt files or a JSON Lines file`,
  );
}
