// `langquant tokenizers (--model DIR | --tokenizer FILE) [--languages L1,L2,…] [--corpus udhr|PATH]
// [--reference eng] [--include-incomplete] [--json]`: tokenizer fertility per language — tokens per byte, per character
// and per word — and the premium relative to English on the same aligned text (Petrov et al. 2023;
// method in src/data/fertility.ts). Default languages: the default study set.

import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import { tokenizerFertility, type FertilityRow } from '../../data/fertility.ts';
import { DEFAULT_STUDY_LANGUAGES, findLanguage } from '../../data/registry.ts';
import { openCorpus } from '../../data/user.ts';
import { loadTokenizer } from '../../model/tokenizer.ts';
import { modelFolder } from '../hub.ts';

interface TokenizersOptions {
  model?: string;
  tokenizer?: string;
  languages?: string;
  corpus: string;
  reference: string;
  includeIncomplete?: boolean;
  json?: boolean;
}

export function registerTokenizers(program: Command): void {
  program
    .command('tokenizers')
    .description(
      'tokenizer fertility (tokens per byte, character, word) and premium vs English per language, on aligned text',
    )
    .option('--model <dir|id>', 'model folder (or Hugging Face id) holding tokenizer.json (or vocab.json + merges.txt)')
    .option('--tokenizer <file>', "a tokenizer.json to use instead of the model folder's")
    .option('--languages <list>', 'comma-separated language codes (default: the study set)')
    .option('--corpus <name|path>', 'udhr, a folder of <lang>.txt, a FLORES-200 folder or a .jsonl file', 'udhr')
    .option('--reference <lang>', 'language the premium is relative to', 'eng')
    .option('--include-incomplete', 'udhr: allow incomplete declarations (stage below 4)')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: TokenizersOptions) => {
      const source = opts.tokenizer ?? (opts.model !== undefined ? await modelFolder(opts.model) : undefined);
      if (!source)
        throw new ConfigError(
          'tokenizers needs --model DIR or --tokenizer FILE; pass the model folder whose tokenizer to measure',
        );
      const tokenizer = await loadTokenizer(source);
      const languages = opts.languages ? parseList(opts.languages) : undefined;
      const corpus =
        opts.corpus === 'udhr'
          ? openCorpus('udhr', {
              languages: withReference(languages ?? [...DEFAULT_STUDY_LANGUAGES], opts.reference),
              includeIncomplete: opts.includeIncomplete ?? false,
            })
          : openCorpus(opts.corpus, {});
      const result = tokenizerFertility(corpus, tokenizer, {
        languages: languages ?? (opts.corpus === 'udhr' ? [...DEFAULT_STUDY_LANGUAGES] : corpus.languages),
        reference: opts.reference,
      });
      if (result.reference === null) {
        process.stderr.write(
          `langquant: warning: corpus ${corpus.name} has no ${opts.reference} text, so there is no premium; add it to the corpus or pass --reference with one of ${corpus.languages.join(', ')}\n`,
        );
      }
      if (opts.json) {
        const out = {
          tokenizer: tokenizer.source,
          corpus: corpus.name,
          reference: result.reference,
          units: result.unitIds.length,
          method:
            'each aligned unit tokenised alone (no special tokens), counts summed; premium = tokens / reference tokens on the same units (Petrov et al. 2023)',
          languages: result.rows.map((r) => ({
            ...r,
            tokensPerWord: Number.isFinite(r.tokensPerWord) ? r.tokensPerWord : null,
          })),
        };
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        return;
      }
      process.stdout.write(table(result.rows, tokenizer.source, corpus.name, result.unitIds.length, result.reference));
    });
}

function parseList(s: string): string[] {
  const list = s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
  if (list.length === 0) throw new ConfigError('--languages is empty; pass codes like eng,swh,yor');
  return [...new Set(list)];
}

function withReference(langs: string[], reference: string): string[] {
  return langs.includes(reference) ? langs : [...langs, reference];
}

function table(
  rows: FertilityRow[],
  tokenizer: string,
  corpus: string,
  units: number,
  reference: string | null,
): string {
  const head = [
    'language',
    'name',
    'class',
    'tokens',
    'bytes',
    'chars',
    'words',
    'tok/byte',
    'tok/char',
    'tok/word',
    reference ? `premium vs ${reference}` : 'premium',
  ];
  const body = rows.map((r) => {
    const info = findLanguage(r.iso6393);
    return [
      r.lang,
      info?.name ?? '',
      info ? String(info.joshiClass) : '',
      String(r.tokens),
      String(r.bytes),
      String(r.chars),
      String(r.words),
      r.tokensPerByte.toFixed(3),
      r.tokensPerChar.toFixed(3),
      Number.isFinite(r.tokensPerWord) ? r.tokensPerWord.toFixed(2) : '—',
      r.premium === null ? '—' : r.premium.toFixed(2),
    ];
  });
  const widths = head.map((h, i) => Math.max([...h].length, ...body.map((b) => [...b[i]].length)));
  const numeric = (i: number) => i >= 2;
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (numeric(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const lines = [
    `tokenizer ${tokenizer}`,
    `corpus    ${corpus}, ${units} aligned units per language (each tokenised alone, no special tokens)`,
    `premium   tokens / ${reference ?? '(no reference language in the corpus)'} tokens on the same units (Petrov et al. 2023)`,
    '',
    fmt(head),
    fmt(head.map((_, i) => '-'.repeat(widths[i]))),
    ...body.map(fmt),
  ];
  return lines.join('\n') + '\n';
}
