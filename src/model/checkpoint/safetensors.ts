// safetensors reader. Format (https://github.com/huggingface/safetensors, "Format" in its README):
// u64 little-endian header length N, N bytes of UTF-8 JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}, then the data.
// Offsets are relative to the end of the header. The header is validated as the reference reader
// (safetensors/src/tensor.rs) does: header length sane, header a JSON object starting with '{',
// a known dtype, byte size = product of shape × dtype size, offsets contiguous from 0 with no gap or
// overlap, and the data filling the file exactly. Tensors are read one at a time with positioned
// reads, so files over 2 GiB load (never one Buffer for a whole file).

import { closeSync, fstatSync, openSync } from 'node:fs';
import { basename } from 'node:path';
import { CheckpointError } from '../../errors.ts';
import { isStorageDType, STORAGE_DTYPE_BYTES, type StorageDType } from '../../tensor/dtype.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { readBytes, readTensorAt, refuseLfsPointer, type ReadOptions } from './io.ts';

export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: StorageDType;
  readonly shape: readonly number[];
  /** Absolute byte offsets in the file. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  readonly path: string;
  /** File size in bytes. */
  readonly size: number;
  /** In file order (ascending offsets). */
  readonly entries: Map<string, SafetensorsEntry>;
  readonly metadata: Record<string, string>;
}

/** The reference reader's limit on the header length (100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Reads and validates the header. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = openOrThrow(path);
  try {
    return parseSafetensorsHeader(fd, path);
  } finally {
    closeSync(fd);
  }
}

export function openOrThrow(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (e) {
    throw new CheckpointError(
      `cannot open ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check that the file exists and is readable`,
    );
  }
}

/** Validates the header of the open file `fd` (named `path` in errors). */
export function parseSafetensorsHeader(fd: number, path: string): SafetensorsHeader {
  const file = basename(path);
  const size = fstatSync(fd).size;
  const bad = (what: string) =>
    new CheckpointError(`${file}: ${what}; the file is damaged or not safetensors — download it again`);
  refuseLfsPointer(fd, size, file);
  if (size < 8) throw bad(`only ${size} bytes, too short for a header`);
  const n64 = readBytes(fd, 8, 0, file).readBigUInt64LE(0);
  if (n64 > BigInt(MAX_HEADER_BYTES)) throw bad(`header length ${n64} is over the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (n < 2 || 8 + n > size) throw bad(`header length ${n} does not fit the file (${size} bytes)`);
  const raw = readBytes(fd, n, 8, file);
  if (raw[0] !== 0x7b /* '{' */) throw bad('header does not start with "{"');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch {
    throw bad('header is not valid UTF-8 JSON (its length field may be wrong)');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('header is not a JSON object');
  const dataStart = 8 + n;
  const dataSize = size - dataStart;
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (
        typeof v !== 'object' ||
        v === null ||
        Array.isArray(v) ||
        !Object.values(v).every((x) => typeof x === 'string')
      ) {
        throw bad('"__metadata__" is not an object of strings');
      }
      metadata = v as Record<string, string>;
      continue;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`entry "${name}" is not an object`);
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isStorageDType(e.dtype)) throw bad(`tensor "${name}" has unknown dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw bad(`tensor "${name}" has an invalid shape`);
    const off = e.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((d) => Number.isSafeInteger(d) && d >= 0) ||
      off[1] < off[0]
    ) {
      throw bad(`tensor "${name}" has invalid data_offsets ${JSON.stringify(off)}`);
    }
    // Checked multiplication: a lying shape must not overflow into a plausible byte count.
    let bytes = STORAGE_DTYPE_BYTES[e.dtype];
    for (const d of e.shape as number[]) {
      bytes *= d;
      if (!Number.isSafeInteger(bytes)) throw bad(`tensor "${name}" has a shape too large to address`);
    }
    if (off[1] - off[0] !== bytes) {
      throw bad(
        `tensor "${name}" spans ${off[1] - off[0]} bytes but shape [${e.shape.join(', ')}] of ${e.dtype} needs ${bytes}`,
      );
    }
    if (off[1] > dataSize) {
      throw bad(
        `tensor "${name}" ends at data byte ${off[1]} but the file holds only ${dataSize} bytes of data (truncated?)`,
      );
    }
    entries.push({
      name,
      dtype: e.dtype,
      shape: e.shape as number[],
      begin: dataStart + off[0],
      end: dataStart + off[1],
    });
  }
  // Offsets must tile the data region exactly: contiguous from 0, no gap, no overlap, filling the file.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = dataStart;
  for (const e of entries) {
    if (e.begin !== cursor) {
      throw bad(
        `tensor "${e.name}" starts at data byte ${e.begin - dataStart}, expected ${cursor - dataStart} (offsets not contiguous)`,
      );
    }
    cursor = e.end;
  }
  if (cursor !== size) throw bad(`${size - cursor} bytes after the last tensor (data does not fill the file)`);
  return { path, size, entries: new Map(entries.map((e) => [e.name, e])), metadata };
}

/** Reads the named tensors (all when `names` is omitted), converted to float32. */
export function readSafetensors(path: string, names?: Iterable<string>): Map<string, Tensor> {
  const fd = openOrThrow(path);
  try {
    const header = parseSafetensorsHeader(fd, path);
    const out = new Map<string, Tensor>();
    for (const name of names ?? header.entries.keys()) {
      const e = header.entries.get(name);
      if (!e) throw new CheckpointError(`${basename(path)}: no tensor "${name}"`);
      out.set(name, readEntry(fd, e, basename(path)));
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** One validated entry of the open file `fd`, converted to float32. */
export function readEntry(fd: number, e: SafetensorsEntry, file = 'model.safetensors', opts: ReadOptions = {}): Tensor {
  return readTensorAt(fd, e.begin, e.dtype, e.shape, file, e.name, opts);
}
