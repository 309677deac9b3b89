// Loads a Hugging Face model directory: config.json → ModelConfig, weights → Model.
// Weights come from any layout checkpoint/source.ts opens (safetensors, sharded safetensors,
// pytorch_model.bin, sharded .bin). Names are accepted with or without the class prefix
// (`transformer.`, `model.decoder.`, `decoder.`, `gpt_neox.`, `model.`), stale buffers are ignored
// (spec.ts STALE_BUFFER_SUFFIXES), a tied output matrix is taken from the input embedding, and every
// tensor the architecture needs must be present with the shape the config implies — all checked from
// the headers before any tensor is read. Every tensor read is checked for NaN and ±Inf once, chunk by
// chunk as it is read (checkpoint/io.ts, finite.ts): a damaged checkpoint is refused naming the file,
// the tensor and the first index.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../errors.ts';
import { isReadableDType, type DType } from '../tensor/dtype.ts';
import { fmtShape, shapeEquals, type Tensor } from '../tensor/tensor.ts';
import { openCheckpoint, type Checkpoint, type StoredTensor } from './checkpoint/source.ts';
import { normalizeConfig, type ModelConfig } from './config.ts';
import type { Model } from './model.ts';
import { basePrefix, isStaleBuffer, weightSpec, type TensorSpec } from './spec.ts';

export interface LoadOptions {
  /**
   * Which tensors (by canonical name, see spec.ts) to read into memory; default all. Tensors left
   * out are still checked (presence, shape, dtype) but are absent from `Model.weights`.
   */
  readonly keep?: (name: string) => boolean;
}

export function loadConfig(dir: string): ModelConfig {
  if (!existsSync(dir)) {
    throw new CheckpointError(
      `model directory ${dir} does not exist; pass the folder that holds config.json and the weights`,
    );
  }
  if (!statSync(dir).isDirectory()) {
    throw new CheckpointError(
      `${dir} is a file, not a model folder; pass the folder that holds config.json and the weights`,
    );
  }
  const path = join(dir, 'config.json');
  if (!existsSync(path))
    throw new CheckpointError(
      `${dir} has no config.json; a Hugging Face model folder needs config.json next to its weights`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`${path} is not valid JSON (${(e as Error).message}); download it again`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new CheckpointError(`${path} is not a JSON object`);
  return normalizeConfig(raw as Record<string, unknown>);
}

export function loadModel(dir: string, opts: LoadOptions = {}): Model {
  const config = loadConfig(dir);
  const ckpt = openCheckpoint(dir);
  try {
    return assemble(dir, config, ckpt, opts.keep ?? (() => true));
  } finally {
    ckpt.close();
  }
}

/**
 * The prefixes a stored name may lack: every leading part of the class prefix, longest first
 * ('model.decoder.' → ['model.decoder.', 'model.']), so `embed_tokens.weight` (base model saved
 * bare) and `decoder.embed_tokens.weight` (OPTModel's own names, as facebook/opt-* store them) both
 * resolve to `model.decoder.embed_tokens.weight`.
 */
export function prefixCandidates(cfg: ModelConfig): string[] {
  const parts = basePrefix(cfg).split('.').filter(Boolean);
  const out: string[] = [];
  for (let i = parts.length; i > 0; i--) out.push(parts.slice(0, i).join('.') + '.');
  return out;
}

/** The canonical spec name a stored name stands for, or undefined. */
function canonicalName(stored: string, known: ReadonlySet<string>, prefixes: readonly string[]): string | undefined {
  if (known.has(stored)) return stored;
  for (const p of prefixes) if (known.has(p + stored)) return p + stored;
  return undefined;
}

function listSome(names: readonly string[]): string {
  const shown = names
    .slice(0, 3)
    .map((n) => `"${n}"`)
    .join(', ');
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}

function assemble(dir: string, config: ModelConfig, ckpt: Checkpoint, keep: (name: string) => boolean): Model {
  const specs = weightSpec(config);
  const known = new Set(specs.map((s) => s.name));
  const prefixes = prefixCandidates(config);
  const where = ckpt.files.length === 1 ? ckpt.files[0] : `${dir} (${ckpt.format})`;
  const desc = `this ${config.arch} config (${config.numLayers} layer${config.numLayers === 1 ? '' : 's'}, hidden ${config.hiddenSize}, vocabulary ${config.vocabSize})`;

  // 1. Map every stored name onto the spec, from the headers alone.
  const byCanon = new Map<string, StoredTensor>();
  const ignored: string[] = [];
  const unexpected: string[] = [];
  for (const t of ckpt.tensors.values()) {
    const canon = canonicalName(t.name, known, prefixes);
    if (canon) {
      const prev = byCanon.get(canon);
      if (prev)
        throw new CheckpointError(
          `${where}: both "${prev.name}" and "${t.name}" are tensor ${canon}; the checkpoint mixes two naming schemes — keep one`,
        );
      byCanon.set(canon, t);
    } else if (isStaleBuffer(t.name)) ignored.push(t.name);
    else unexpected.push(t.name);
  }
  if (unexpected.length) {
    throw new CheckpointError(
      `${where}: unexpected tensor${unexpected.length > 1 ? 's' : ''} ${listSome(unexpected)} for ${desc}; is config.json from the same checkpoint?`,
    );
  }

  // 2. Every needed tensor present (or tied), with the config's shape and a readable dtype.
  const tiedFrom = new Map<string, string>(); // output name → embedding name
  const missing: string[] = [];
  for (const s of specs) {
    const t = byCanon.get(s.name);
    if (!t) {
      if (s.tiedTo && byCanon.has(s.tiedTo)) tiedFrom.set(s.name, s.tiedTo);
      else missing.push(s.name);
      continue;
    }
    if (!shapeEquals(t.shape, s.shape)) {
      throw new CheckpointError(
        `${t.file}: tensor "${t.name}" has shape ${fmtShape(t.shape)} but config.json implies ${fmtShape(s.shape)} for ${desc}; is config.json from the same checkpoint?`,
      );
    }
    if (!isReadableDType(t.dtype)) {
      throw new CheckpointError(
        `${t.file}: tensor "${t.name}" is stored as ${t.dtype}; langquant reads F32, F16 and BF16 — convert the checkpoint to one of them`,
      );
    }
  }
  if (missing.length) {
    throw new CheckpointError(
      `${where}: ${missing.length > 1 ? 'tensors' : 'tensor'} ${listSome(missing)} ${missing.length > 1 ? 'are' : 'is'} missing for ${desc}; is config.json from the same checkpoint, and are all weight files there?`,
    );
  }

  // 3. Read what is kept. A tied output needs its embedding read even when the embedding is not kept.
  const weights = new Map<string, Tensor>();
  const dtypes: Record<string, DType> = {};
  const cache = new Map<string, Tensor>();
  const read = (canon: string): Tensor => {
    let t = cache.get(canon);
    if (!t) {
      const stored = byCanon.get(canon)!;
      t = ckpt.read(stored.name, { finite: true }); // refuses NaN/±Inf as it reads (finite.ts)
      cache.set(canon, t);
    }
    return t;
  };
  const tied: string[] = [];
  for (const s of specs) {
    const stored = byCanon.get(s.name);
    if (stored) dtypes[s.name] = stored.dtype as DType;
    const source = tiedFrom.get(s.name);
    // Absent from the file and tied: known from the headers, so listed whether or not it is kept.
    if (source) tied.push(s.name);
    if (!keep(s.name)) continue;
    if (source) {
      weights.set(s.name, read(source));
    } else if (s.tiedTo && byCanon.has(s.tiedTo)) {
      weights.set(s.name, tiedCopy(s, read(s.name), read(s.tiedTo), where, tied));
    } else {
      weights.set(s.name, read(s.name));
    }
  }
  return { dir, config, weights, info: { format: ckpt.format, files: ckpt.files, dtypes, tied, ignored } };
}

/**
 * The config ties the output matrix to the embedding, yet the file stores both. An identical copy is
 * the tie written out (older GPT-2 and OPT files do this): share the embedding. A different matrix
 * contradicts the config, and transformers would silently keep whichever it loaded last: refuse.
 */
function tiedCopy(s: TensorSpec, output: Tensor, embedding: Tensor, where: string, tied: string[]): Tensor {
  const a = output.data;
  const b = embedding.data;
  for (let i = 0; i < a.length; i++) {
    // Object.is: NaN equals NaN, and a -0/+0 difference is still a copy worth flagging.
    if (!Object.is(a[i], b[i])) {
      throw new CheckpointError(
        `${where}: config.json ties "${s.name}" to "${s.tiedTo}" (tie_word_embeddings), but the file stores a different "${s.name}"; set "tie_word_embeddings": false in config.json if the model is untied`,
      );
    }
  }
  tied.push(s.name);
  return embedding;
}
