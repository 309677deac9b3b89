// One view over every weight layout a Hugging Face model folder may use, so the loader sees a list of
// stored tensors (name, dtype, shape, file) and reads the ones it needs, whatever the format:
//   model.safetensors                       one safetensors file
//   model.safetensors.index.json + shards   {"metadata": {...}, "weight_map": {tensor: shard file}}
//   pytorch_model.bin                       torch.save zip (see pytorch.ts)
//   pytorch_model.bin.index.json + shards   the same index over pytorch_model-0000N-of-0000M.bin
// When several are present the first in this order wins, as in transformers' from_pretrained.
// Every file is validated when opened; nothing is read until `read` is called.

import { closeSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { CheckpointError } from '../../errors.ts';
import type { StorageDType } from '../../tensor/dtype.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import type { ReadOptions } from './io.ts';
import { openPytorchFile } from './pytorch.ts';
import { openOrThrow, parseSafetensorsHeader, readEntry } from './safetensors.ts';

export type CheckpointFormat = 'safetensors' | 'safetensors-sharded' | 'pytorch' | 'pytorch-sharded';

export interface StoredTensor {
  /** Name as stored in the file. */
  readonly name: string;
  readonly dtype: StorageDType;
  readonly shape: readonly number[];
  /** File that holds it, relative to the model folder. */
  readonly file: string;
}

/** One open weight file. */
export interface CheckpointFile {
  readonly tensors: ReadonlyMap<string, StoredTensor>;
  read(name: string, opts?: ReadOptions): Tensor;
  close(): void;
}

/** An open checkpoint: every stored tensor of every file; close() when done. */
export interface Checkpoint {
  readonly format: CheckpointFormat;
  readonly files: readonly string[];
  readonly tensors: ReadonlyMap<string, StoredTensor>;
  /** Reads one stored tensor as float32 (its dtype must be F32, F16 or BF16); `finite`: refuse NaN/±Inf. */
  read(name: string, opts?: ReadOptions): Tensor;
  close(): void;
}

export const WEIGHT_FILES = [
  'model.safetensors',
  'model.safetensors.index.json',
  'pytorch_model.bin',
  'pytorch_model.bin.index.json',
] as const;

/** Weight files of other frameworks, named when a folder holds only those. */
const FOREIGN_WEIGHTS: Record<string, string> = {
  'tf_model.h5': 'TensorFlow',
  'flax_model.msgpack': 'Flax',
  'model.onnx': 'ONNX',
  'rust_model.ot': 'Rust (tch)',
};

/** Opens the weights of the model folder `dir` (which must exist). */
export function openCheckpoint(dir: string): Checkpoint {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new CheckpointError(
      `model directory ${dir} does not exist; pass the folder that holds config.json and the weights`,
    );
  }
  const found = WEIGHT_FILES.find((f) => existsSync(join(dir, f)));
  if (!found) {
    const foreign = readdirSync(dir).filter((f) => f in FOREIGN_WEIGHTS || f.endsWith('.gguf'));
    const hint = foreign.length
      ? ` (found ${foreign.join(', ')}: ${foreign.map((f) => FOREIGN_WEIGHTS[f] ?? 'GGUF').join(', ')} weights, which langquant does not read — download the PyTorch or safetensors weights)`
      : '; download the weights into the folder';
    throw new CheckpointError(`${dir} has no weights: expected ${WEIGHT_FILES.join(', ')}${hint}`);
  }
  switch (found) {
    case 'model.safetensors':
      return single('safetensors', found, openSafetensorsFile(dir, found));
    case 'pytorch_model.bin':
      return single('pytorch', found, openPytorchFile(join(dir, found), found));
    case 'model.safetensors.index.json':
      return sharded('safetensors-sharded', dir, found, openSafetensorsFile);
    case 'pytorch_model.bin.index.json':
      return sharded('pytorch-sharded', dir, found, (d, f) => openPytorchFile(join(d, f), f));
  }
}

/** A safetensors file as a CheckpointFile (header validated now, fd held until close). */
export function openSafetensorsFile(dir: string, file: string): CheckpointFile {
  const path = join(dir, file);
  const fd = openOrThrow(path);
  try {
    const header = parseSafetensorsHeader(fd, path);
    const tensors = new Map<string, StoredTensor>();
    for (const e of header.entries.values())
      tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, file });
    return {
      tensors,
      read: (name, opts) => readEntry(fd, header.entries.get(name)!, file, opts),
      close: () => closeSync(fd),
    };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function single(format: CheckpointFormat, file: string, f: CheckpointFile): Checkpoint {
  return {
    format,
    files: [file],
    tensors: f.tensors,
    read: (name, opts) => {
      if (!f.tensors.has(name)) throw new Error(`checkpoint has no tensor "${name}"`);
      return f.read(name, opts);
    },
    close: () => f.close(),
  };
}

/** Parses and checks an index file; returns its weight map (tensor → shard file). */
export function readIndex(dir: string, indexFile: string): Map<string, string> {
  const path = join(dir, indexFile);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`${indexFile} is not valid JSON (${(e as Error).message}); download it again`);
  }
  const wm = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof json !== 'object' || json === null || typeof wm !== 'object' || wm === null || Array.isArray(wm)) {
    throw new CheckpointError(
      `${indexFile} has no "weight_map" object; it is not a Hugging Face shard index — download it again`,
    );
  }
  const map = new Map<string, string>();
  for (const [name, file] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof file !== 'string' || file === '')
      throw new CheckpointError(`${indexFile}: weight_map["${name}"] is not a file name`);
    // A shard must lie inside the model folder: no absolute paths, no climbing out with "..".
    const norm = normalize(file);
    if (isAbsolute(file) || norm === '..' || norm.startsWith('..' + sep) || norm.startsWith('../')) {
      throw new CheckpointError(`${indexFile}: shard "${file}" points outside the model folder; refusing to read it`);
    }
    map.set(name, file);
  }
  if (map.size === 0) throw new CheckpointError(`${indexFile}: weight_map is empty; download the index again`);
  return map;
}

function sharded(
  format: CheckpointFormat,
  dir: string,
  indexFile: string,
  open: (dir: string, file: string) => CheckpointFile,
): Checkpoint {
  const weightMap = readIndex(dir, indexFile);
  const shardNames = [...new Set(weightMap.values())];
  for (const f of shardNames) {
    const p = join(dir, f);
    if (!existsSync(p) || !statSync(p).isFile()) {
      throw new CheckpointError(
        `${indexFile} lists shard ${f}, which is missing from ${dir}; download every shard the index names`,
      );
    }
  }
  const opened = new Map<string, CheckpointFile>();
  const closeAll = () => {
    for (const f of opened.values()) f.close();
  };
  try {
    const tensors = new Map<string, StoredTensor>();
    for (const f of shardNames) {
      const shard = open(dir, f);
      opened.set(f, shard);
      for (const t of shard.tensors.values()) {
        const prev = tensors.get(t.name);
        if (prev)
          throw new CheckpointError(
            `tensor "${t.name}" is stored in both ${prev.file} and ${f}; the shards do not belong together`,
          );
        tensors.set(t.name, t);
      }
    }
    for (const [name, f] of weightMap) {
      const t = tensors.get(name);
      if (!t || t.file !== f) {
        throw new CheckpointError(
          `${indexFile} says tensor "${name}" is in ${f}, but ${t ? `it is in ${t.file}` : 'no shard holds it'}; the index and the shards do not match — download them again`,
        );
      }
    }
    return {
      format,
      files: [indexFile, ...shardNames],
      tensors,
      read: (name, opts) => {
        const t = tensors.get(name);
        if (!t) throw new Error(`checkpoint has no tensor "${name}"`);
        return opened.get(t.file)!.read(name, opts);
      },
      close: closeAll,
    };
  } catch (e) {
    closeAll();
    throw e;
  }
}
