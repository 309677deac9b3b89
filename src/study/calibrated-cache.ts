// The run folder's cache of calibrated quantised models (GPTQ, AWQ): one file per (full-precision
// model, method, its parameters, calibration windows) under cache/calibrated/, so that a quantised
// model — in particular each language's model of the `target` source — is calibrated once per run
// folder and reused by every replicate and experiment that asks for the same one (a resumed E-005, a
// one-language list equal to a target arm, replicates that share calibration units). The windows enter
// the key token by token, so the calibration units, languages, budget, tokenizer and BOS are all in it.
//
// A file holds each target's grid record (levels packed two per byte at ≤ 4 bits, scales, zeros) and,
// where the dequantised weight is not the grid's own dequantisation (AWQ: W' = Q(W·diag(s))·diag(s)⁻¹),
// that weight as float32. Loading rebuilds the model and its bit account through finishQuantized, so a
// reused model is bit for bit the one calibrated. A damaged file is recalibrated.
// Reference: issue 13 "target … cached by language"; ./calibration.ts (the statistics cache).

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { weight, type Model } from '../model/model.ts';
import { finishQuantized, type QuantizeResult } from '../quant/apply.ts';
import { quantizeModelCalibratedFast, type FastCalibratedOptions } from '../quant/calibrated.ts';
import { dequantize, type QuantizedTensor } from '../quant/rtn.ts';
import { DEFAULT_SCOPE, selectTargets } from '../quant/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';

// 3: AWQ's output errors and GPTQ's solver on onnxruntime's float64 matrix products (equal to rounding).
const VERSION = 3;

export interface CachedCalibration {
  readonly result: QuantizeResult;
  /** True when the model came from the cache (no calibration ran). */
  readonly reused: boolean;
  readonly file: string;
}

/** The cache key: the model's content hash, the method and its parameters, and every calibration token. */
export function calibratedKey(
  modelKey: string,
  o: Pick<FastCalibratedOptions, 'method' | 'spec' | 'gptq' | 'awq' | 'windows' | 'engine'>,
): string {
  const h = createHash('sha256');
  const params = {
    v: VERSION,
    model: modelKey,
    method: o.method,
    spec: o.spec,
    gptq: o.gptq ?? {},
    awq: o.awq ?? {},
    windows: o.windows.map((w) => w.length),
    // the forward that produced the statistics (float32 on either engine; a near tie may round apart)
    engine: o.engine ?? 'auto',
  };
  h.update(JSON.stringify(params));
  for (const w of o.windows) h.update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
  return h.digest('hex').slice(0, 32);
}

interface TensorEntry {
  name: string;
  shape: [number, number];
  layout: QuantizedTensor['layout'];
  inDim: number;
  outDim: number;
  bits: number;
  scheme: QuantizedTensor['scheme'];
  groupSize: number;
  numGroups: number;
  packed: boolean;
  zeros: boolean;
  /** The dequantised weight is stored (float32) rather than derived from the grid. */
  raw: boolean;
}

function sameData(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function pack(levels: Int8Array | Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(levels.length / 2));
  for (let i = 0; i < levels.length; i++) out[i >> 1] |= (levels[i] & 15) << ((i & 1) * 4);
  return out;
}

function unpack(bytes: Uint8Array, n: number, signed: boolean): Int8Array | Uint8Array {
  const out = signed ? new Int8Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = (bytes[i >> 1] >> ((i & 1) * 4)) & 15;
    out[i] = signed && v > 7 ? v - 16 : v;
  }
  return out;
}

/** Serialises a calibrated result: a JSON header (length-prefixed), then each tensor's arrays. */
export function encodeCalibrated(r: QuantizeResult): Buffer {
  const entries: TensorEntry[] = [];
  const chunks: Uint8Array[] = [];
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const dq = new Map<string, Tensor>();
  for (const t of r.targets) dq.set(t.name, weight(r.model, t.replace[0]));
  for (const [name, q] of r.quantized) {
    if (q.kept)
      throw new Error(`calibrated cache: ${name} keeps weights in full precision, which the cache does not store`);
    const packed = q.bits <= 4;
    const own = dq.get(name)!;
    const raw = !sameData(own.data, dequantize(q).data);
    entries.push({
      name,
      shape: [q.shape[0], q.shape[1]],
      layout: q.layout,
      inDim: q.inDim,
      outDim: q.outDim,
      bits: q.bits,
      scheme: q.scheme,
      groupSize: q.groupSize,
      numGroups: q.numGroups,
      packed,
      zeros: q.zeros !== null,
      raw,
    });
    // Float32 arrays first in each tensor's run keep every chunk's offset a multiple of 4.
    chunks.push(bytes(q.scales));
    if (raw) chunks.push(bytes(own.data));
    chunks.push(packed ? pack(q.levels) : bytes(q.levels));
    if (q.zeros) chunks.push(q.zeros);
    const pad = chunks.reduce((a, c) => a + c.length, 0) % 4;
    if (pad) chunks.push(new Uint8Array(4 - pad));
  }
  let header = Buffer.from(JSON.stringify({ v: VERSION, tensors: entries }));
  if (header.length % 4) header = Buffer.concat([header, Buffer.alloc(4 - (header.length % 4), 0x20)]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  return Buffer.concat([len, header, ...chunks]);
}

/** Rebuilds the quantised model of `model` from encodeCalibrated's bytes. */
export function decodeCalibrated(model: Model, buf: Buffer, otherBits = 16): QuantizeResult {
  const n = buf.readUInt32LE(0);
  const head = JSON.parse(buf.subarray(4, 4 + n).toString('utf8')) as { v: number; tensors: TensorEntry[] };
  if (head.v !== VERSION) throw new Error(`calibrated cache version ${head.v}`);
  // A private copy, aligned, so that the typed arrays below can view it.
  const body = new Uint8Array(buf.length - 4 - n);
  body.set(buf.subarray(4 + n));
  let at = 0;
  const take = (len: number) => {
    if (at + len > body.length) throw new Error('calibrated cache: truncated file');
    const v = body.subarray(at, at + len);
    at += len;
    return v;
  };
  const quantized = new Map<string, QuantizedTensor>();
  const dequantized = new Map<string, Tensor>();
  for (const e of head.tensors) {
    const count = e.inDim * e.outDim;
    const groups = e.outDim * e.numGroups;
    const scales = new Float32Array(body.buffer, body.byteOffset + at, groups);
    take(groups * 4);
    const raw = e.raw ? new Float32Array(body.buffer, body.byteOffset + at, count) : null;
    if (e.raw) take(count * 4);
    const signed = e.scheme === 'sym';
    const lv = take(e.packed ? Math.ceil(count / 2) : count);
    const levels = e.packed ? unpack(lv, count, signed) : signed ? new Int8Array(lv.buffer, lv.byteOffset, count) : lv;
    const zeros = e.zeros ? take(groups) : null;
    if (at % 4) take(4 - (at % 4));
    const q: QuantizedTensor = {
      shape: e.shape,
      layout: e.layout,
      inDim: e.inDim,
      outDim: e.outDim,
      bits: e.bits,
      scheme: e.scheme,
      groupSize: e.groupSize,
      numGroups: e.numGroups,
      levels,
      scales,
      zeros,
      kept: null,
    };
    quantized.set(e.name, q);
    dequantized.set(e.name, raw ? { data: raw, shape: [...e.shape] } : dequantize(q));
  }
  const targets = selectTargets(model, DEFAULT_SCOPE);
  for (const t of targets) if (!quantized.has(t.name)) throw new Error(`calibrated cache: no record of ${t.name}`);
  return finishQuantized(model, targets, quantized, dequantized, otherBits);
}

/**
 * The calibrated quantised model from the run folder's cache, or calibrated now (default scope) and
 * stored there. `modelKey` identifies the full-precision weights (OpenModel.key).
 */
export async function cachedCalibrated(
  cacheDir: string,
  modelKey: string,
  model: Model,
  opts: Omit<FastCalibratedOptions, 'scope' | 'errors'>,
  log: (s: string) => void = () => {},
): Promise<CachedCalibration> {
  const dir = join(cacheDir, 'calibrated');
  const file = join(dir, `${calibratedKey(modelKey, opts)}.bin`);
  if (existsSync(file)) {
    try {
      return { result: decodeCalibrated(model, readFileSync(file), opts.otherBits), reused: true, file };
    } catch (e) {
      log(`calibrated cache: ${file} is unreadable (${(e as Error).message}); calibrating again`);
    }
  }
  const result = await quantizeModelCalibratedFast(model, { ...opts, errors: false });
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, encodeCalibrated(result));
  renameSync(tmp, file);
  return { result, reused: false, file };
}
