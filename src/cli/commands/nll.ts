// `langquant nll --model DIR --ids FILE [--engine ort|reference|auto]`: per-token negative
// log-likelihood of given token ids, as the JSON contract of DESIGN.md §2:
//   {"sequences": [{"length": L, "nll": [L−1 numbers], "meanNll": number}, …]}
//   nll[t] = −log softmax(logits[t])[ids[t+1]] in nats; each sequence is scored whole (no windows).
// Also home of the pieces `perplexity` shares: engine choice and the model transforms that other
// parts (quantisation) register to change the loaded model before scoring.

import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import type { Engine, EngineName } from '../../engine/types.ts';
import { createEngine, ENGINE_NAMES } from '../../engine/select.ts';
import { readIdsFile } from '../../eval/ids.ts';
import { checkNll } from '../../eval/score.ts';
import { loadModel } from '../../model/load.ts';
import type { Model } from '../../model/model.ts';

/**
 * A step applied to the loaded model before scoring (e.g. round-to-nearest quantise-dequantise).
 * Each adds its own options to `nll` and `perplexity`, and returns the model unchanged when its
 * options were not given. To add one, push it onto MODEL_TRANSFORMS (one line).
 */
export interface ModelTransform {
  /** Adds the transform's options to a command. */
  addOptions(cmd: Command): Command;
  /** The transformed model, or `model` itself when the options do not ask for this transform. */
  apply(model: Model, opts: Readonly<Record<string, unknown>>): Model | Promise<Model>;
}

export const MODEL_TRANSFORMS: ModelTransform[] = [];

/** Adds every registered transform's options to `cmd`. */
export function addTransformOptions(cmd: Command): Command {
  for (const t of MODEL_TRANSFORMS) t.addOptions(cmd);
  return cmd;
}

/** Loads the model folder and applies the registered transforms in order. */
export async function loadTransformedModel(dir: string, opts: Readonly<Record<string, unknown>>): Promise<Model> {
  let model = loadModel(dir);
  for (const t of MODEL_TRANSFORMS) model = await t.apply(model, opts);
  return model;
}

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

export function registerNll(program: Command): void {
  const cmd = program
    .command('nll')
    .description('per-token negative log-likelihood (nats) of token ids, as JSON')
    .requiredOption('--model <dir>', 'Hugging Face model folder (config.json + weights)')
    .requiredOption('--ids <file>', 'JSON file: an array of token-id arrays, e.g. [[464, 2068, 7586]]')
    .option('--engine <name>', `execution engine: ${ENGINE_NAMES.join(' | ')}`, 'auto');
  addTransformOptions(cmd).action(async (opts: Record<string, unknown> & { model: string; ids: string; engine: string }) => {
    const engineName = parseEngineName(opts.engine);
    const model = await loadTransformedModel(opts.model, opts);
    const c = model.config;
    const sequences = readIdsFile(opts.ids, { vocabSize: c.vocabSize, maxPositions: c.maxPositions });
    const engine = await openEngine(model, engineName, (msg) => process.stderr.write(`langquant: ${msg}\n`));
    try {
      const out: { length: number; nll: number[]; meanNll: number }[] = [];
      for (const [k, ids] of sequences.entries()) {
        const res = await engine.score({ ids });
        // A NaN would print as null, breaking the contract (numbers only): refuse it by name instead.
        checkNll(res.nll, { sequence: `sequence ${k + 1} of ${opts.ids}`, firstTarget: 1, engine: engine.name });
        let sum = 0; // float64
        for (let t = 0; t < res.nll.length; t++) sum += res.nll[t];
        out.push({ length: ids.length, nll: Array.from(res.nll), meanNll: sum / res.nll.length });
      }
      process.stdout.write(JSON.stringify({ sequences: out }) + '\n');
    } finally {
      await engine.dispose();
    }
  });
}
