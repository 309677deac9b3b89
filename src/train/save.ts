// Writing what the trainer produces, every file atomically (temporary file in the same folder,
// then rename), so an interrupted run never leaves a half-written file behind:
//   - the Hugging Face model folder: config.json, generation_config.json, model.safetensors
//     (float32, canonical checkpoint names of src/model/spec.ts; GPT-2 Conv1D matrices transposed
//     back to [in, out]; a tied output matrix left out, as save_pretrained does), tokenizer.json,
//     tokenizer_config.json, training.json;
//   - the trainer's checkpoint (parameters and AdamW moments as one safetensors file whose
//     metadata holds the step, the losses so far and the run's identity).
// Safetensors files are written by src/model/checkpoint/write.ts (writeSafetensors: atomic, tensors
// in name order, `format: "pt"` metadata); the trainer's own checkpoint is read back here.

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../errors.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { writeSafetensors } from '../model/checkpoint/write.ts';
import type { FloatArray } from './kernels.ts';
import type { TrainNet } from './net.ts';

export interface NamedF32 {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Writes `bytes` to `path` through `path.tmp` + rename. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Writes float32 tensors (name → data, shape) as a safetensors file, atomically. */
export function writeF32Safetensors(
  path: string,
  tensors: readonly NamedF32[],
  metadata: Record<string, string> = {},
): void {
  const map = new Map<string, Tensor>();
  for (const t of tensors) map.set(t.name, { data: t.data, shape: t.shape });
  writeSafetensors(path, map, { dtype: 'F32', metadata });
}

/** Reads a float32 safetensors file (the trainer's own checkpoint). */
export function readF32Safetensors(path: string): {
  tensors: Map<string, Float32Array>;
  metadata: Record<string, string>;
} {
  const buf = readFileSync(path);
  if (buf.length < 8) throw new CheckpointError(`${path} is truncated; delete it to start the training afresh`);
  const n = Number(buf.readBigUInt64LE(0));
  if (8 + n > buf.length) throw new CheckpointError(`${path} is truncated; delete it to start the training afresh`);
  const damaged = (why: string) =>
    new CheckpointError(`${path} is damaged (${why}); delete it to start the training afresh`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  } catch {
    throw damaged('its header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw damaged('its header is not a JSON object');
  const tensors = new Map<string, Float32Array>();
  let metadata: Record<string, string> = {};
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = e as unknown as Record<string, string>;
      continue;
    }
    if (e.dtype !== 'F32')
      throw new CheckpointError(`${path}: ${name} is ${e.dtype}, the trainer's checkpoints are F32`);
    const [a, b] = Array.isArray(e.data_offsets) ? e.data_offsets : [NaN, NaN];
    if (!(
      Number.isInteger(a) &&
      Number.isInteger(b) &&
      0 <= a &&
      a <= b &&
      8 + n + b <= buf.length &&
      (b - a) % 4 === 0
    ))
      throw damaged(`the data of ${name} lies outside the file`);
    const bytes = buf.subarray(8 + n + a, 8 + n + b);
    tensors.set(name, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
  }
  return { tensors, metadata };
}

/** The network's tensors under their checkpoint names and storage layout (Conv1D transposed back). */
export function exportTensors(net: TrainNet): NamedF32[] {
  return net.slots.map((s) => {
    const v = net.params.subarray(s.offset, s.offset + s.size);
    const data = new Float32Array(s.size);
    if (s.transposed) {
      const [R, C] = s.shape; // trainer [out, in] → checkpoint [in, out]
      for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) data[c * R + r] = v[r * C + c];
    } else data.set(v);
    return { name: s.spec.name, shape: s.spec.shape, data };
  });
}

/** Loads checkpoint-layout tensors (by name) into the network's parameters. */
export function importTensors(net: TrainNet, tensors: ReadonlyMap<string, { data: ArrayLike<number> }>): void {
  for (const s of net.slots) {
    const t = tensors.get(s.spec.name);
    if (!t) throw new CheckpointError(`tensor ${s.spec.name} is missing`);
    if (t.data.length !== s.size)
      throw new CheckpointError(`tensor ${s.spec.name} has ${t.data.length} values, expected ${s.size}`);
    const v: FloatArray = net.params.subarray(s.offset, s.offset + s.size);
    if (s.transposed) {
      const [R, C] = s.shape;
      for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) v[r * C + c] = t.data[c * R + r];
    } else for (let i = 0; i < s.size; i++) v[i] = t.data[i];
  }
}

export interface ModelFiles {
  readonly config: Record<string, unknown>;
  readonly generationConfig: Record<string, unknown>;
  readonly tokenizer: Record<string, unknown>;
  readonly tokenizerConfig: Record<string, unknown>;
}

/** Writes the Hugging Face folder (weights + configs + tokenizer). */
export function writeModelFolder(dir: string, net: TrainNet, files: ModelFiles): void {
  writeF32Safetensors(join(dir, 'model.safetensors'), exportTensors(net));
  writeFileAtomic(join(dir, 'config.json'), JSON.stringify(files.config, null, 2) + '\n');
  writeFileAtomic(join(dir, 'generation_config.json'), JSON.stringify(files.generationConfig, null, 2) + '\n');
  writeFileAtomic(join(dir, 'tokenizer.json'), JSON.stringify(files.tokenizer) + '\n');
  writeFileAtomic(join(dir, 'tokenizer_config.json'), JSON.stringify(files.tokenizerConfig, null, 2) + '\n');
}

export const CHECKPOINT_FILE = 'checkpoint.safetensors';

export interface CheckpointState {
  /** Steps completed. */
  readonly step: number;
  readonly losses: number[];
  readonly elapsedMs: number;
  /** JSON of the options that must match to resume. */
  readonly identity: string;
}

export function writeCheckpoint(
  dir: string,
  net: TrainNet,
  m: Float32Array,
  v: Float32Array,
  state: CheckpointState,
): void {
  const P = net.numParams;
  const params = Float32Array.from(net.params);
  writeF32Safetensors(
    join(dir, CHECKPOINT_FILE),
    [
      { name: 'params', shape: [P], data: params },
      { name: 'adam_m', shape: [P], data: m },
      { name: 'adam_v', shape: [P], data: v },
    ],
    { state: JSON.stringify(state) },
  );
}

export function readCheckpoint(
  dir: string,
): { params: Float32Array; m: Float32Array; v: Float32Array; state: CheckpointState } | null {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) return null;
  const { tensors, metadata } = readF32Safetensors(path);
  const params = tensors.get('params'),
    m = tensors.get('adam_m'),
    v = tensors.get('adam_v');
  if (!params || !m || !v || !metadata['state'])
    throw new CheckpointError(`${path} is not a langquant training checkpoint; delete it or choose another --out`);
  let state: CheckpointState;
  try {
    state = JSON.parse(metadata['state']) as CheckpointState;
  } catch {
    throw new CheckpointError(
      `${path} is damaged (its training state is not JSON); delete it to start the training afresh`,
    );
  }
  return { params, m, v, state };
}
