// safetensors reader. Format: u64 little-endian header length N, N bytes of JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {…}}, then the data.
// Offsets are relative to the end of the header. Tensors are read one at a time with positioned
// reads, so files over 2 GiB load (never one Buffer for a whole file).

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { CheckpointError } from '../../errors.ts';
import { decodeInto, DTYPE_BYTES, type DType } from '../../tensor/dtype.ts';
import { numel, type Tensor } from '../../tensor/tensor.ts';

export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Absolute byte offsets in the file. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  readonly path: string;
  readonly entries: Map<string, SafetensorsEntry>;
  readonly metadata: Record<string, string>;
}

const MAX_HEADER = 100 * 1024 * 1024;

function readExactly(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  if (got !== length) throw new Error(`short read: ${got} of ${length} bytes at ${position}`);
  return buf;
}

/** Reads and validates the header, as the reference reader does. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = openSync(path, 'r');
  try {
    return parseHeader(fd, path);
  } finally {
    closeSync(fd);
  }
}

function parseHeader(fd: number, path: string): SafetensorsHeader {
  const file = basename(path);
  const size = fstatSync(fd).size;
  const bad = (what: string) =>
    new CheckpointError(`${file}: ${what}; the file is damaged or not safetensors — download it again`);
  if (size < 8) throw bad(`only ${size} bytes, too short for a header`);
  const n = Number(readExactly(fd, 8, 0).readBigUInt64LE(0));
  if (n < 2 || n > MAX_HEADER || 8 + n > size) throw bad(`header length ${n} does not fit the file (${size} bytes)`);
  let json: unknown;
  try {
    json = JSON.parse(readExactly(fd, n, 8).toString('utf8'));
  } catch {
    throw bad('header is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('header is not a JSON object');
  const dataStart = 8 + n;
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (v ?? {}) as Record<string, string>;
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) throw bad(`entry "${name}" is not an object`);
    if (e.dtype !== 'F32' && e.dtype !== 'F16' && e.dtype !== 'BF16') {
      throw new CheckpointError(`${file}: tensor "${name}" has dtype ${JSON.stringify(e.dtype)}; langquant reads F32, F16 and BF16 — convert the checkpoint to one of them`);
    }
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) throw bad(`tensor "${name}" has an invalid shape`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[1] < off[0]) {
      throw bad(`tensor "${name}" has invalid data_offsets`);
    }
    const bytes = numel(e.shape) * DTYPE_BYTES[e.dtype];
    if (off[1] - off[0] !== bytes) {
      throw bad(`tensor "${name}" spans ${off[1] - off[0]} bytes but shape [${e.shape.join(', ')}] of ${e.dtype} needs ${bytes}`);
    }
    entries.push({ name, dtype: e.dtype, shape: e.shape, begin: dataStart + off[0], end: dataStart + off[1] });
  }
  // Offsets must tile the data region exactly: contiguous, no gaps, no overlap, filling the file.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = dataStart;
  for (const e of sorted) {
    if (e.begin !== cursor) throw bad(`tensor "${e.name}" starts at byte ${e.begin - dataStart} of the data, expected ${cursor - dataStart} (offsets not contiguous)`);
    cursor = e.end;
  }
  if (cursor !== size) {
    throw bad(cursor > size ? `data ends at byte ${cursor} but the file has ${size} (truncated)` : `${size - cursor} bytes after the last tensor`);
  }
  return { path, entries: new Map(entries.map((e) => [e.name, e])), metadata };
}

/** Reads the named tensors (all when `names` is omitted), converting to float32. */
export function readSafetensors(path: string, names?: Iterable<string>): Map<string, Tensor> {
  const fd = openSync(path, 'r');
  try {
    const header = parseHeader(fd, path);
    const out = new Map<string, Tensor>();
    for (const name of names ?? header.entries.keys()) {
      const e = header.entries.get(name);
      if (!e) throw new CheckpointError(`${basename(path)}: no tensor "${name}"`);
      out.set(name, readEntry(fd, e));
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

export function readEntry(fd: number, e: SafetensorsEntry): Tensor {
  const data = new Float32Array(numel(e.shape));
  // Read in chunks of at most 256 MiB so no single Buffer gets near the 2 GiB limit.
  const CHUNK = 256 * 1024 * 1024;
  const bytesPer = DTYPE_BYTES[e.dtype];
  const perChunk = Math.floor(CHUNK / bytesPer);
  for (let i = 0; i < data.length; i += perChunk) {
    const count = Math.min(perChunk, data.length - i);
    const buf = readExactly(fd, count * bytesPer, e.begin + i * bytesPer);
    decodeInto(data.subarray(i, i + count), buf, e.dtype);
  }
  return { data, shape: [...e.shape] };
}
