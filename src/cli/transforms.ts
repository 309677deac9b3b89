// Steps applied to the loaded model before `nll` and `perplexity` score it (today one: round-to-nearest
// quantise-dequantise with `--bits N [--group-size G --scheme S]`, src/cli/commands/quantize.ts).
// Each adds its own options to those commands and leaves the model unchanged when they are not given.
// To add one, list it in MODEL_TRANSFORMS below.

import type { Command } from 'commander';
import { loadModel } from '../model/load.ts';
import type { Model } from '../model/model.ts';
import { quantizeTransform } from './commands/quantize.ts';

export interface ModelTransform {
  /** Adds the transform's options to a command. */
  addOptions(cmd: Command): Command;
  /** The transformed model, or `model` itself when the options do not ask for this transform. */
  apply(model: Model, opts: Readonly<Record<string, unknown>>): Model | Promise<Model>;
}

/** The transforms, in the order they are applied. */
export const MODEL_TRANSFORMS: readonly ModelTransform[] = [quantizeTransform];

/** Adds every transform's options to `cmd`. */
export function addTransformOptions(cmd: Command): Command {
  for (const t of MODEL_TRANSFORMS) t.addOptions(cmd);
  return cmd;
}

/** Loads the model folder and applies the transforms in order. */
export async function loadTransformedModel(dir: string, opts: Readonly<Record<string, unknown>>): Promise<Model> {
  let model = loadModel(dir);
  for (const t of MODEL_TRANSFORMS) model = await t.apply(model, opts);
  return model;
}
