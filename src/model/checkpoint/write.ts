// safetensors writer and model-folder writer, for the quantiser and the trainer. Format as in
// safetensors.ts: u64 LE header length, JSON header (padded with spaces to a multiple of 8 bytes, as
// the reference writer does, so every tensor starts 8-byte aligned), then the tensors back to back.
// Files are written atomically: a temporary file in the same folder, fsync, then rename, so a crash
// never leaves a half-written checkpoint under the real name. Tensors are encoded in chunks with
// positioned writes, so files over 2 GiB are written without one Buffer for the whole file.

import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DTYPE_BYTES, encodeInto, type DType } from '../../tensor/dtype.ts';
import { numel, type Tensor } from '../../tensor/tensor.ts';
import type { Model } from '../model.ts';
import { weightSpec } from '../spec.ts';

export interface WriteSafetensorsOptions {
  readonly dtype: DType;
  /** Extra `__metadata__` strings; `format: "pt"` is always set (transformers requires it). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Values encoded per write: 16 Mi values (≤ 64 MiB of bytes). */
const ENCODE_CHUNK = 16 * 1024 * 1024;

let tempCounter = 0;

/** Runs `write(fd)` on a temporary file next to `path`, then renames it into place. */
export function writeFileAtomic(path: string, write: (fd: number) => void): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${tempCounter++}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    write(fd);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/** Writes all bytes of `buf` at `position`. */
function writeAll(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, position + done);
}

/**
 * Writes `tensors` to `path` as safetensors, every tensor converted to `opts.dtype` (F16/BF16 round
 * to nearest even). Tensors are stored in name order. Throws (a bug in the caller) on a tensor whose
 * data does not fill its shape.
 */
export function writeSafetensors(
  path: string,
  tensors: ReadonlyMap<string, Tensor>,
  opts: WriteSafetensorsOptions,
): void {
  const width = DTYPE_BYTES[opts.dtype];
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: { ...opts.metadata, format: 'pt' } };
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    if (name === '' || name === '__metadata__') throw new Error(`writeSafetensors: invalid tensor name "${name}"`);
    if (t.data.length !== numel(t.shape))
      throw new Error(`writeSafetensors: "${name}" has ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    const bytes = t.data.length * width;
    header[name] = { dtype: opts.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const lengthField = Buffer.alloc(8);
  lengthField.writeBigUInt64LE(BigInt(json.length));

  writeFileAtomic(path, (fd) => {
    writeAll(fd, lengthField, 0);
    writeAll(fd, json, 8);
    let pos = 8 + json.length;
    const scratch = Buffer.alloc(
      Math.min(ENCODE_CHUNK, Math.max(1, ...names.map((n) => tensors.get(n)!.data.length))) * width,
    );
    for (const name of names) {
      const data = tensors.get(name)!.data;
      for (let i = 0; i < data.length; i += ENCODE_CHUNK) {
        const count = Math.min(ENCODE_CHUNK, data.length - i);
        const out = scratch.subarray(0, count * width);
        encodeInto(out, data.subarray(i, i + count), opts.dtype);
        writeAll(fd, out, pos);
        pos += out.length;
      }
    }
  });
}

/** Files next to the weights that a Hugging Face tool needs to use the model (copied when present). */
export const COMPANION_FILES = [
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.json',
  'merges.txt',
  'tokenizer.model',
  'added_tokens.json',
] as const;

export interface WriteModelDirOptions {
  readonly dtype: DType;
  readonly metadata?: Readonly<Record<string, string>>;
  /** Copy tokenizer and generation files from `model.dir` when it differs from `dir` (default true). */
  readonly copyCompanions?: boolean;
}

const TORCH_DTYPE: Record<DType, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/**
 * Writes `model` as a Hugging Face folder: config.json (the raw config, `torch_dtype` set to the
 * written dtype) and model.safetensors under the canonical names of spec.ts. A tied output matrix
 * that is the same Tensor object as its embedding is left out, as save_pretrained does. When the
 * config ties them but the model holds a different output matrix (e.g. only one was quantised),
 * both are written and config.json says `tie_word_embeddings: false`, so every loader agrees.
 * Returns the paths written.
 */
export function writeModelDir(dir: string, model: Model, opts: WriteModelDirOptions): string[] {
  mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, Tensor>();
  let untie = false;
  for (const s of weightSpec(model.config)) {
    const t = model.weights.get(s.name);
    if (!t) throw new Error(`writeModelDir: model has no tensor "${s.name}" (was it loaded with a keep filter?)`);
    if (s.tiedTo) {
      if (model.weights.get(s.tiedTo) === t) continue;
      untie = true;
    }
    tensors.set(s.name, t);
  }
  const raw: Record<string, unknown> = { ...model.config.raw, torch_dtype: TORCH_DTYPE[opts.dtype] };
  if (untie) raw['tie_word_embeddings'] = false;

  const written: string[] = [];
  const weightsPath = join(dir, 'model.safetensors');
  writeSafetensors(weightsPath, tensors, { dtype: opts.dtype, metadata: opts.metadata });
  written.push(weightsPath);
  const configPath = join(dir, 'config.json');
  const configBytes = Buffer.from(JSON.stringify(raw, null, 2) + '\n', 'utf8');
  writeFileAtomic(configPath, (fd) => writeAll(fd, configBytes, 0));
  written.push(configPath);
  if (opts.copyCompanions ?? true) {
    for (const f of COMPANION_FILES) {
      const from = join(model.dir, f);
      const to = join(dir, f);
      if (resolve(from) !== resolve(to) && existsSync(from)) {
        copyFileSync(from, to);
        written.push(to);
      }
    }
  }
  return written;
}
