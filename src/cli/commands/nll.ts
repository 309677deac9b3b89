// `langquant nll --model DIR --ids FILE [--engine ort|reference|auto]`: per-token negative
// log-likelihood of given token ids, as the JSON contract of DESIGN.md §2:
//   {"sequences": [{"length": L, "nll": [L−1 numbers], "meanNll": number}, …]}
//   nll[t] = −log softmax(logits[t])[ids[t+1]] in nats; each sequence is scored whole (no windows).
// Ids given with --ids are scored exactly as given: no BOS is added (put it first in the file).
// `--text FILE [--bos auto|always|never]` scores a text instead, tokenised by the model folder's
// tokenizer with the BOS convention of src/eval/bos.ts, and states that convention in the output:
//   {"bos": "</s>"|null, "bosId", "bosMode", "bosReason", "text": FILE,
//    "sequences": [{"length": L, "textTokens": n, "nll": [L−1 numbers], "meanNll"}]}
// (with a BOS, L = n + 1 and all n tokens of the text are scored; without, L = n and n − 1 are).
// Also home of the pieces `perplexity` shares: engine choice, text files, the --bos option; the
// model transforms (--bits) are src/cli/transforms.ts.

import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { decodeUtf8 } from '../../data/corpus.ts';
import { ConfigError, DataError } from '../../errors.ts';
import type { Engine, EngineName } from '../../engine/types.ts';
import { createEngine, ENGINE_NAMES } from '../../engine/select.ts';
import {
  BOS_MODES,
  bosFields,
  bosOffset,
  encodeWithBos,
  parseBosMode,
  resolveBos,
  type BosPlan,
} from '../../eval/bos.ts';
import { readIdsFile } from '../../eval/ids.ts';
import { checkNll } from '../../eval/score.ts';
import type { Model } from '../../model/model.ts';
import { loadTokenizer } from '../../model/tokenizer.ts';
import { modelFolder } from '../hub.ts';
import { addTransformOptions, loadTransformedModel } from '../transforms.ts';

export { ENGINE_NAMES };

export function parseEngineName(v: string): EngineName {
  if (!(ENGINE_NAMES as readonly string[]).includes(v)) {
    throw new ConfigError(`--engine ${v} is not an engine; use one of ${ENGINE_NAMES.join(', ')}`);
  }
  return v as EngineName;
}

/** The engine that scores `model` (src/engine/select.ts); `auto` falls back to the reference engine with a notice. */
export async function openEngine(model: Model, name: EngineName, onNotice?: (msg: string) => void): Promise<Engine> {
  return createEngine(model, name, { onNotice });
}

/** A UTF-8 text file to score, refused (DataError) when missing or blank; `flag` names the option. */
export function readTextFile(file: string, flag = '--text'): string {
  if (!existsSync(file) || !statSync(file).isFile())
    throw new DataError(`text file ${file} does not exist; pass a UTF-8 text file with ${flag}`);
  const text = decodeUtf8(readFileSync(file), file);
  if (text.trim().length === 0) throw new DataError(`text file ${file} is empty; pass a file with some text to score`);
  return text;
}

/** The --bos option of the commands that tokenise text for scoring (src/eval/bos.ts). */
export const BOS_OPTION_HELP = `BOS before each text: ${BOS_MODES.join(' | ')} (auto: as the model's tokenizer_config.json / tokenizer.json say)`;

/** A text's ids under a BOS plan, checked against the model (vocabulary, positions, something to score). */
function textIds(
  model: Model,
  text: string,
  file: string,
  tok: Awaited<ReturnType<typeof loadTokenizer>>,
  plan: BosPlan,
): Int32Array {
  const ids = encodeWithBos(tok, text, plan);
  const c = model.config;
  for (const id of ids) {
    if (id >= c.vocabSize)
      throw new DataError(
        `the tokenizer ${tok.source} gives id ${id}, outside this model's vocabulary of ${c.vocabSize}; use the model's own tokenizer`,
      );
  }
  if (c.maxPositions !== null && ids.length > c.maxPositions) {
    throw new DataError(
      `text file ${file} is ${ids.length} ids long (BOS included), more than the model's ${c.maxPositions} positions; nll scores a sequence whole — use \`langquant perplexity --text\` (sliding windows) or a shorter text`,
    );
  }
  if (ids.length < 2)
    throw new DataError(
      `text file ${file} is a single token; the first token is never scored and no BOS is put before it, so nothing is left to score — use a longer text or --bos always`,
    );
  return Int32Array.from(ids);
}

export function registerNll(program: Command): void {
  const cmd = program
    .command('nll')
    .description('per-token negative log-likelihood (nats) of token ids, or of a text, as JSON')
    .requiredOption(
      '--model <dir|id>',
      'Hugging Face model folder or id org/name[@revision] (config.json + weights; tokenizer.json for --text)',
    )
    .option('--ids <file>', 'JSON file: an array of token-id arrays, e.g. [[464, 2068, 7586]], scored exactly as given')
    .option('--text <file>', "UTF-8 text file, tokenised by the model's tokenizer and scored whole")
    .option('--bos <mode>', `with --text: ${BOS_OPTION_HELP} (default auto)`)
    .option('--engine <name>', `execution engine: ${ENGINE_NAMES.join(' | ')}`, 'auto');
  addTransformOptions(cmd).action(
    async (
      opts: Record<string, unknown> & { model: string; ids?: string; text?: string; bos?: string; engine: string },
    ) => {
      const engineName = parseEngineName(opts.engine);
      opts.model = await modelFolder(opts.model);
      if (opts.ids === undefined && opts.text === undefined)
        throw new ConfigError('nothing to score: pass --ids FILE (token ids) or --text FILE (a text)');
      if (opts.ids !== undefined && opts.text !== undefined)
        throw new ConfigError('pass either --ids or --text, not both');
      if (opts.ids !== undefined && opts.bos !== undefined) {
        throw new ConfigError(
          '--bos goes with --text: ids given with --ids are scored exactly as given (put the BOS id first in the file when the model expects one)',
        );
      }
      const bosMode = parseBosMode(opts.bos ?? 'auto');
      // With --text, the text, the tokenizer and the BOS are checked before the (slower) model.
      const text = opts.text !== undefined ? readTextFile(opts.text) : undefined;
      const tok = text !== undefined ? await loadTokenizer(opts.model) : undefined;
      const plan = tok ? resolveBos(tok, bosMode) : undefined;
      const model = await loadTransformedModel(opts.model, opts);
      const c = model.config;
      const sequences =
        text !== undefined
          ? [textIds(model, text, opts.text!, tok!, plan!)]
          : readIdsFile(opts.ids!, { vocabSize: c.vocabSize, maxPositions: c.maxPositions });
      const engine = await openEngine(model, engineName, (msg) => process.stderr.write(`langquant: ${msg}\n`));
      try {
        const out: { length: number; textTokens?: number; nll: number[]; meanNll: number }[] = [];
        for (const [k, ids] of sequences.entries()) {
          const res = await engine.score({ ids });
          // A NaN would print as null, breaking the contract (numbers only): refuse it by name instead.
          checkNll(res.nll, {
            sequence: opts.text !== undefined ? `text file ${opts.text}` : `sequence ${k + 1} of ${opts.ids}`,
            firstTarget: 1,
            engine: engine.name,
          });
          let sum = 0; // float64
          for (let t = 0; t < res.nll.length; t++) sum += res.nll[t];
          const textTokens = plan ? { textTokens: ids.length - bosOffset(plan) } : {};
          out.push({ length: ids.length, ...textTokens, nll: Array.from(res.nll), meanNll: sum / res.nll.length });
        }
        // --ids keeps the DESIGN.md §2 contract exactly; --text states its BOS convention.
        const result = plan ? { ...bosFields(plan), text: opts.text, sequences: out } : { sequences: out };
        process.stdout.write(JSON.stringify(result) + '\n');
      } finally {
        await engine.dispose();
      }
    },
  );
}
