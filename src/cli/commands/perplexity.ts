// `langquant perplexity --model DIR (--text FILE | --corpus udhr|PATH [--languages L1,L2,…])
//   [--context N --stride S] [--json] [--engine …]`: tokens scored, total NLL, token perplexity,
// bits per byte and bits per character, with the scoring convention printed next to the numbers
// (src/eval/windows.ts, src/eval/metrics.ts, DESIGN.md §4).
// With --corpus (the built-in UDHR, or a user corpus as src/data/user.ts reads them), each aligned
// unit (UDHR article, FLORES sentence, paragraph) the languages share is scored on its own and the
// totals are summed per language; a seeded BCa bootstrap over the units gives a 95 % interval
// for bits per byte. Languages whose text is shorter than one window or has too few units for an
// interval are warned about (src/data/adequacy.ts), or refused with --adequacy refuse.
// --bos auto|always|never (src/eval/bos.ts): a BOS before each text (unit) as the model's tokenizer
// files say, always, or never; the outputs state which (a header line, the convention, JSON fields).

import type { Command } from 'commander';
import { alignedUnitIds, unitsById, type CorpusUnit } from '../../data/corpus.ts';
import { checkAdequacy } from '../../data/adequacy.ts';
import { openCorpus } from '../../data/user.ts';
import { ConfigError, DataError } from '../../errors.ts';
import { bootstrap, type Interval } from '../../eval/bootstrap.ts';
import { bosFields, bosOffset, describeBos, encodeWithBos, parseBosMode, resolveBos } from '../../eval/bos.ts';
import { bitsPerByte, measures, sumTotals, variance, type TextMeasures, type TextTotals } from '../../eval/metrics.ts';
import { scoreTextIds as scoreIds } from '../../eval/text.ts';
import { describeConvention, resolveWindowOptions } from '../../eval/windows.ts';
import type { Model } from '../../model/model.ts';
import { loadTokenizer } from '../../model/tokenizer.ts';
import { addTransformOptions, loadTransformedModel } from '../transforms.ts';
import { BOS_OPTION_HELP, ENGINE_NAMES, openEngine, parseEngineName, readTextFile } from './nll.ts';
import { modelFolder } from '../hub.ts';

/** Context used when the model has no position limit (ALiBi) and no --context is given. */
const UNBOUNDED_DEFAULT_CONTEXT = 1024;

interface PerplexityOptions extends Record<string, unknown> {
  model: string;
  text?: string;
  corpus?: string;
  languages?: string;
  context?: string;
  stride?: string;
  json?: boolean;
  engine: string;
  seed: string;
  adequacy: string;
  bos: string;
}

function parseCount(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim()))
    throw new ConfigError(`${flag} ${v} is not a whole number of tokens; pass e.g. ${flag} 512`);
  return Number(v);
}

/** Context and stride for this model: --context may not exceed the model's positions. */
export function windowFor(model: Model, context?: number, stride?: number): { context: number; stride: number } {
  const max = model.config.maxPositions;
  const K = context ?? max ?? UNBOUNDED_DEFAULT_CONTEXT;
  if (max !== null && K > max) {
    throw new ConfigError(`--context ${K} is longer than the model's ${max} positions; pass --context ${max} or less`);
  }
  return resolveWindowOptions({ context: K, stride });
}

interface LanguageResult extends TextMeasures {
  language: string;
  units: number;
  /** 95 % BCa bootstrap interval (small-sample expanded) of bits per byte over the units. */
  bitsPerByteInterval: Interval;
}

function fmt(x: number, digits = 4): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}

export function registerPerplexity(program: Command): void {
  const cmd = program
    .command('perplexity')
    .description('token perplexity, bits per byte and bits per character of a text or of a corpus, per language')
    .requiredOption(
      '--model <dir|id>',
      'Hugging Face model folder or id org/name[@revision] (config.json, weights, tokenizer.json)',
    )
    .option('--text <file>', 'UTF-8 text file to score')
    .option(
      '--corpus <name|path>',
      'corpus to score instead of --text: udhr, a folder of <lang>.txt, a FLORES-200 folder or a .jsonl file',
    )
    .option(
      '--languages <list>',
      'with --corpus: comma-separated language codes, e.g. eng,swh,yor (required for udhr; default: all of a user corpus)',
    )
    .option('--adequacy <mode>', 'languages with too little text: warn | refuse', 'warn')
    .option('--context <n>', "tokens per window (default: the model's positions)")
    .option('--stride <n>', 'tokens each window advances (default: half the context)')
    .option('--seed <n>', 'seed of the bootstrap interval (with --corpus)', '0')
    .option('--engine <name>', `execution engine: ${ENGINE_NAMES.join(' | ')}`, 'auto')
    .option('--bos <mode>', BOS_OPTION_HELP, 'auto')
    .option('--json', 'print JSON instead of text');
  addTransformOptions(cmd).action(async (opts: PerplexityOptions) => {
    const engineName = parseEngineName(opts.engine);
    const bosMode = parseBosMode(opts.bos);
    if (opts.text === undefined && opts.corpus === undefined)
      throw new ConfigError('nothing to score: pass --text FILE, or --corpus udhr --languages eng,swh,…');
    if (opts.text !== undefined && opts.corpus !== undefined)
      throw new ConfigError('pass either --text or --corpus, not both');
    if (opts.corpus === 'udhr' && !opts.languages)
      throw new ConfigError('--corpus udhr needs --languages, e.g. --languages eng,swh,yor');
    if (opts.languages !== undefined && opts.corpus === undefined)
      throw new ConfigError('--languages goes with --corpus; with --text the file is scored as it is');
    if (opts.adequacy !== 'warn' && opts.adequacy !== 'refuse')
      throw new ConfigError(`--adequacy ${opts.adequacy} is not a mode; use warn or refuse`);
    const seed = parseCount('--seed', opts.seed)!;
    const contextArg = parseCount('--context', opts.context);
    const strideArg = parseCount('--stride', opts.stride);
    // Read the inputs before the (slower) model so that a wrong path fails fast.
    const text = opts.text !== undefined ? readTextFile(opts.text) : undefined;
    const languages = opts.languages
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    const corpus = opts.corpus !== undefined ? openCorpus(opts.corpus, { languages }) : undefined;

    opts.model = await modelFolder(opts.model);
    const tok = await loadTokenizer(opts.model);
    const bos = resolveBos(tok, bosMode);
    const encode = (t: string) => encodeWithBos(tok, t, bos);
    const model = await loadTransformedModel(opts.model, opts);
    const win = windowFor(model, contextArg, strideArg);
    const convention = `${describeConvention(win, bos.id !== null)} ${describeBos(bos)}`;
    const bosLine =
      bos.id !== null
        ? `${bos.token} (id ${bos.id}) before each text, not scored`
        : 'none (the first token of each text is not scored)';
    const engine = await openEngine(model, engineName, (msg) => process.stderr.write(`langquant: ${msg}\n`));
    try {
      if (text !== undefined) {
        const ids = encode(text);
        const { totals, windows } = await scoreIds(engine, ids, text, win, `text file ${opts.text}`);
        if (totals.tokens === 0)
          throw new DataError(
            `text file ${opts.text} is a single token; the first token is never scored and no BOS is put before it, so nothing is left to score — use a longer text or --bos always`,
          );
        const m = measures(totals);
        const textTokens = ids.length - bosOffset(bos);
        const out = {
          model: opts.model,
          text: opts.text,
          engine: engine.name,
          context: win.context,
          stride: win.stride,
          ...bosFields(bos),
          textTokens,
          windows,
          ...m,
          convention,
        };
        if (opts.json) {
          process.stdout.write(JSON.stringify(out, null, 2) + '\n');
          return;
        }
        process.stdout.write(
          [
            `model          ${opts.model} (${engine.name} engine)`,
            `text           ${opts.text}: ${m.bytes} bytes, ${m.chars} characters, ${textTokens} tokens`,
            `BOS            ${bosLine}`,
            `tokens scored  ${m.tokens} in ${windows} window${windows === 1 ? '' : 's'}`,
            `NLL            ${fmt(m.nllNats)} nats (${fmt(m.meanNll)} per token)`,
            `perplexity     ${fmt(m.tokenPerplexity)}`,
            `bits per byte  ${fmt(m.bitsPerByte)}`,
            `bits per char  ${fmt(m.bitsPerChar)}`,
            convention,
          ].join('\n') + '\n',
        );
        return;
      }
      const c = corpus!;
      const ids = alignedUnitIds(c, c.languages);
      if (ids.length === 0)
        throw new DataError(
          `the languages ${c.languages.join(', ')} share no units in corpus ${c.name}; score them separately`,
        );
      // Tokenise everything first so that an inadequate language is reported before any scoring.
      const tokenised = c.languages.map((lang) => ({
        lang,
        units: unitsById(c, lang, ids).map((u: CorpusUnit) => ({ id: u.id, text: u.text, ids: encode(u.text) })),
      }));
      const adequacy = checkAdequacy(
        tokenised.map((l) => ({
          lang: l.lang,
          tokens: l.units.reduce((n, u) => n + u.ids.length, 0),
          units: l.units.length,
        })),
        { contextTokens: win.context, mode: opts.adequacy as 'warn' | 'refuse' },
      );
      for (const w of adequacy.warnings) process.stderr.write(`langquant: warning: ${w.message}\n`);
      const results: LanguageResult[] = [];
      for (const l of tokenised) {
        const perUnit: TextTotals[] = [];
        for (const u of l.units)
          perUnit.push((await scoreIds(engine, u.ids, u.text, win, `unit ${u.id} of ${l.lang}`)).totals);
        const m = measures(sumTotals(perUnit));
        const interval = bootstrap(perUnit, (smp) => bitsPerByte(sumTotals(smp)), { seed, resamples: 1000 });
        results.push({ language: l.lang, units: l.units.length, ...m, bitsPerByteInterval: interval });
      }
      // Spread of token perplexity across languages (population variance), as DESIGN.md §4 lists it.
      const pplVariance = variance(results.map((r) => r.tokenPerplexity));
      const unitsNote = `Units: the ${ids.length} units of ${c.name} all these languages share, each scored on its own; bits-per-byte intervals: 95 % BCa bootstrap over units, expanded for few units (1000 resamples, seed ${seed}).`;
      if (opts.json) {
        const warnings = adequacy.warnings.map((w) => w.message);
        process.stdout.write(
          JSON.stringify(
            {
              model: opts.model,
              corpus: c.name,
              engine: engine.name,
              context: win.context,
              stride: win.stride,
              ...bosFields(bos),
              languages: results,
              perplexityVariance: pplVariance,
              convention,
              units: unitsNote,
              warnings,
            },
            null,
            2,
          ) + '\n',
        );
        return;
      }
      const header = [
        'language',
        'units',
        'tokens',
        'bytes',
        'NLL (nats)',
        'PPL',
        'bits/byte',
        '95 % interval',
        'bits/char',
      ];
      const rows = results.map((r) => [
        r.language,
        String(r.units),
        String(r.tokens),
        String(r.bytes),
        fmt(r.nllNats, 1),
        fmt(r.tokenPerplexity, 3),
        fmt(r.bitsPerByte),
        `[${fmt(r.bitsPerByteInterval.lo)}, ${fmt(r.bitsPerByteInterval.hi)}]`,
        fmt(r.bitsPerChar),
      ]);
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
      const line = (cells: string[]) =>
        cells.map((s, i) => (i === 0 ? s.padEnd(widths[i]) : s.padStart(widths[i]))).join('  ');
      process.stdout.write(
        [
          `model ${opts.model} (${engine.name} engine), corpus ${c.name}, BOS ${bosLine}`,
          line(header),
          ...rows.map(line),
          `variance of token perplexity across languages: ${fmt(pplVariance, 3)}`,
          convention,
          unitsNote,
        ].join('\n') + '\n',
      );
    } finally {
      await engine.dispose();
    }
  });
}
