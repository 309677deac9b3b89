// Test helpers for the quantiser: a minimal safetensors reader for the golden levels files
// (U8 / I8 / F32; the project's reader accepts only float dtypes) and small random weights.
import { readFileSync } from 'node:fs';
import { Rng } from '../../src/util/rng.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';

export interface RawTensor {
  dtype: string;
  shape: number[];
  data: Uint8Array | Int8Array | Float32Array;
}

/** Reads every tensor of a small safetensors file into typed arrays by dtype. */
export function readRawSafetensors(path: string): {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
} {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const start = 8 + n;
  const tensors = new Map<string, RawTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = v as Record<string, string>;
      continue;
    }
    const e = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const bytes = buf.subarray(start + e.data_offsets[0], start + e.data_offsets[1]);
    const copy = new Uint8Array(bytes); // aligned copy
    let data: RawTensor['data'];
    if (e.dtype === 'U8') data = copy;
    else if (e.dtype === 'I8') data = new Int8Array(copy.buffer);
    else if (e.dtype === 'F32') data = new Float32Array(copy.buffer);
    else throw new Error(`readRawSafetensors: dtype ${e.dtype}`);
    tensors.set(name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

/** A [rows, cols] tensor of scale·N(0,1) values from a seeded PRNG. */
export function randomTensor(rows: number, cols: number, seed: number, scale = 0.2): Tensor {
  const rng = new Rng(seed);
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = scale * rng.normal();
  return { data, shape: [rows, cols] };
}
