// Positioned file reads shared by the checkpoint readers. Nothing here holds a whole file in memory:
// every read names its byte position, so files larger than 2 GiB (Node's Buffer limit) load, and a
// tensor is decoded chunk by chunk straight into its Float32Array.

import { readSync } from 'node:fs';
import { CheckpointError } from '../../errors.ts';
import { decodeInto, DTYPE_BYTES, isReadableDType, LITTLE_ENDIAN, type StorageDType } from '../../tensor/dtype.ts';
import { numel, type Tensor } from '../../tensor/tensor.ts';
import { firstNonFinite, nonFiniteMessage } from '../finite.ts';

/** Largest single read: far below the 2 GiB Buffer limit, large enough to be fast. */
export const READ_CHUNK_BYTES = 64 * 1024 * 1024;

/**
 * Read size when the values are checked for NaN/±Inf as they arrive: each chunk is checked right
 * after the read (or the decode) that wrote it, while it is still in the CPU cache, so the check
 * costs no second trip through memory (bench/finite.ts).
 */
export const CHECKED_CHUNK_BYTES = 1024 * 1024;

/** How a tensor is read. */
export interface ReadOptions {
  /** Refuse a NaN or ±Inf with a CheckpointError naming the file, the tensor and the first index. */
  readonly finite?: boolean;
}

/** Throws the loader's refusal when data[from, from + count) holds a NaN or ±Inf. */
export function checkFiniteRange(t: Tensor, from: number, count: number, file: string, name: string): void {
  const bad = firstNonFinite(t.data.subarray(from, from + count));
  if (bad >= 0) throw new CheckpointError(nonFiniteMessage(name, t, from + bad, { file }));
}

/** Fills `buf` from `position`; false when the file ends first. */
export function readFully(fd: number, buf: Uint8Array, position: number): boolean {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) return false;
    got += n;
  }
  return true;
}

/** `length` bytes at `position`, or a CheckpointError naming `file` when the file is shorter. */
export function readBytes(fd: number, length: number, position: number, file: string): Buffer {
  const buf = Buffer.alloc(length);
  if (!readFully(fd, buf, position)) {
    throw new CheckpointError(`${file}: the file ends before byte ${position + length} (truncated); download it again`);
  }
  return buf;
}

/**
 * Reads a row-major tensor of `dtype` and `shape` stored contiguously at `position`, converted to
 * float32. `file` and `name` only label errors.
 */
export function readTensorAt(
  fd: number,
  position: number,
  dtype: StorageDType,
  shape: readonly number[],
  file: string,
  name: string,
  opts: ReadOptions = {},
): Tensor {
  if (!isReadableDType(dtype)) {
    throw new CheckpointError(
      `${file}: tensor "${name}" is stored as ${dtype}; langquant reads F32, F16 and BF16 — convert the checkpoint to one of them`,
    );
  }
  const n = numel(shape);
  const data = allocate(n, file, name);
  const bytesPer = DTYPE_BYTES[dtype];
  const perChunk = Math.floor((opts.finite ? CHECKED_CHUNK_BYTES : READ_CHUNK_BYTES) / bytesPer);
  const tensor = { data, shape: [...shape] };
  // F16/BF16 (and F32 on a big-endian machine) need a staging buffer and a conversion; F32 on a
  // little-endian machine has the file's bit layout and is read straight into the tensor's bytes.
  const staging = dtype === 'F32' && LITTLE_ENDIAN ? null : Buffer.alloc(Math.min(n, perChunk) * bytesPer);
  for (let i = 0; i < n; i += perChunk) {
    const count = Math.min(perChunk, n - i);
    const at = position + i * bytesPer;
    const target = staging ? staging.subarray(0, count * bytesPer) : new Uint8Array(data.buffer, i * 4, count * 4);
    if (!readFully(fd, target, at)) {
      throw new CheckpointError(
        `${file}: tensor "${name}" runs past the end of the file (truncated); download it again`,
      );
    }
    if (staging) decodeInto(data.subarray(i, i + count), target, dtype);
    // F16/BF16 Inf and NaN patterns decode to float32 Inf and NaN, so one check serves every dtype.
    if (opts.finite) checkFiniteRange(tensor, i, count, file, name);
  }
  return tensor;
}

/**
 * A Float32Array of n values, or a CheckpointError when it cannot exist: past the engine's typed-array
 * limit (2^32 values in Node 20) or beyond the memory available.
 */
function allocate(n: number, file: string, name: string): Float32Array {
  try {
    return new Float32Array(n);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new CheckpointError(
      `${file}: tensor "${name}" has ${n} values (${((n * 4) / 2 ** 30).toFixed(1)} GiB as float32), more than one array can hold here (${e.message}); langquant's reference engine cannot load a tensor this large — use a smaller model or a machine with more memory`,
    );
  }
}

/**
 * Refuses a Git LFS pointer (a small text file standing in for the weights when a repository was
 * cloned without `git lfs`), which would otherwise look like a damaged checkpoint.
 */
export function refuseLfsPointer(fd: number, size: number, file: string): void {
  if (size > 1024) return;
  const head = Buffer.alloc(Math.min(size, 64));
  if (!readFully(fd, head, 0)) return;
  if (head.toString('latin1').startsWith('version https://git-lfs')) {
    throw new CheckpointError(
      `${file} is a Git LFS pointer, not the weights; run \`git lfs pull\` in the model folder or download the file itself`,
    );
  }
}
