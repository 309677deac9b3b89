// Loads a Hugging Face model directory: config.json → ModelConfig, weights → Model.
// Accepts full causal-LM names and base-model names without the class prefix; ignores stale
// buffers; takes a tied output matrix from the embedding; checks every tensor's shape.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../errors.ts';
import type { DType } from '../tensor/dtype.ts';
import { fmtShape, shapeEquals, type Tensor } from '../tensor/tensor.ts';
import { normalizeConfig, type ModelConfig } from './config.ts';
import { readSafetensorsHeader, readSafetensors } from './checkpoint/safetensors.ts';
import type { Model } from './model.ts';
import { basePrefix, isStaleBuffer, weightSpec } from './spec.ts';

export function loadConfig(dir: string): ModelConfig {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new CheckpointError(`model directory ${dir} does not exist; pass the folder that holds config.json and the weights`);
  }
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new CheckpointError(`${dir} has no config.json; a Hugging Face model folder needs config.json next to its weights`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`${path} is not valid JSON (${(e as Error).message}); download it again`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CheckpointError(`${path} is not a JSON object`);
  return normalizeConfig(raw as Record<string, unknown>);
}

export function loadModel(dir: string): Model {
  const config = loadConfig(dir);
  const file = join(dir, 'model.safetensors');
  if (!existsSync(file)) {
    throw new CheckpointError(`${dir} has no weights: expected model.safetensors, model.safetensors.index.json or pytorch_model.bin`);
  }
  const header = readSafetensorsHeader(file);
  const prefix = basePrefix(config);
  const specs = weightSpec(config);
  const wanted = new Map<string, string>(); // file name → canonical name
  const ignored: string[] = [];
  const known = new Set(specs.map((s) => s.name));
  for (const name of header.entries.keys()) {
    if (known.has(name)) wanted.set(name, name);
    else if (known.has(prefix + name)) wanted.set(name, prefix + name);
    else if (isStaleBuffer(name)) ignored.push(name);
    else throw new CheckpointError(`model.safetensors: unexpected tensor "${name}" for a ${config.arch} model; is config.json from the same checkpoint?`);
  }
  const tensors = readSafetensors(file, wanted.keys());
  const weights = new Map<string, Tensor>();
  const dtypes: Record<string, DType> = {};
  for (const [fileName, canon] of wanted) {
    weights.set(canon, tensors.get(fileName)!);
    dtypes[canon] = header.entries.get(fileName)!.dtype;
  }
  const tied: string[] = [];
  for (const s of specs) {
    let t = weights.get(s.name);
    if (!t && s.tiedTo) {
      t = weights.get(s.tiedTo);
      if (t) {
        weights.set(s.name, t);
        tied.push(s.name);
      }
    }
    if (!t) throw new CheckpointError(`model.safetensors: tensor "${s.name}" is missing for this ${config.arch} config`);
    if (!shapeEquals(t.shape, s.shape)) {
      throw new CheckpointError(`model.safetensors: tensor "${s.name}" has shape ${fmtShape(t.shape)} but config.json implies ${fmtShape(s.shape)}`);
    }
  }
  return { dir, config, weights, info: { format: 'safetensors', files: ['model.safetensors'], dtypes, tied, ignored } };
}
