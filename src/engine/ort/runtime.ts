// Loads onnxruntime-node once and proves its native binding works by running a one-node graph.
// When it cannot load (a platform without a prebuilt binary, a broken install), callers get an
// OrtUnavailableError that says why and what to do; select.ts turns it into a fallback notice.

import { availableParallelism } from 'node:os';
import { UserError } from '../../errors.ts';
import type { ModelConfig } from '../../model/config.ts';
import { outputShare } from '../../model/spec.ts';
import { GraphBuilder, type WeightMode } from './graph.ts';
import { DataType } from './proto.ts';

export type Ort = typeof import('onnxruntime-node');

/** onnxruntime-node is missing or its native library does not load on this machine. */
export class OrtUnavailableError extends UserError {
  readonly reason: string;
  constructor(reason: string) {
    super(
      `onnxruntime-node could not be loaded (${reason}); run \`npm install\` again, or pass --engine reference to use the TypeScript engine`,
    );
    this.name = 'OrtUnavailableError';
    this.reason = reason;
  }
}

/**
 * Models at most this wide run on one intra-op thread by default. Their matrix products are too small
 * to split: on the 2-core machine of the README's Performance section, a 128-token window of a
 * 4-block model took 2.9 ms on one thread against 4.6 ms on two at width 128, 11.6 against 15.8 ms at
 * 256 and 52 against 60 ms at 512 (two threads win only from 768 wide, or with longer windows).
 */
export const SINGLE_THREAD_MAX_WIDTH = 256;

let coresForWide: number | null = null;

/**
 * The cores a wider model's sessions use when no thread count is requested: `n`, or null for every
 * core this process can see (availableParallelism). A replicate run beside others (`langquant run
 * --jobs N`) is given its share of the machine (KindContext.cpus), so N replicates do not ask for N
 * times the cores. The count can change the last bits of a model's scores (on the 96-wide golden
 * gpt2-b, 1 against 2 threads: NLL up to 3e-6 apart; on GPT-2-small shapes, the same bits), so it is
 * part of the engine's identity and the run gives every replicate the same share.
 */
export function setDefaultThreads(n: number | null): void {
  coresForWide = n === null ? null : Math.max(1, Math.floor(n));
}

/**
 * onnxruntime's intra-op threads for a model: `requested`, else one for a narrow model, else the
 * process's cores (setDefaultThreads).
 */
export function threadsFor(cfg: Pick<ModelConfig, 'hiddenSize'>, requested?: number): number {
  if (requested !== undefined) return Math.max(1, Math.floor(requested));
  return cfg.hiddenSize <= SINGLE_THREAD_MAX_WIDTH ? 1 : (coresForWide ?? availableParallelism());
}

/**
 * How a model's weights reach onnxruntime by default (graph.ts WeightMode): a narrow model's as
 * initialisers — one more copy, a few MB, but each run then binds two inputs instead of every weight
 * tensor (measured: 0.33 ms less per call, 2.9 against 3.3 ms per 128-token window of gpt2-mini);
 * a wider model's as inputs over langquant's own arrays, with no copy.
 */
export function weightModeFor(cfg: Pick<ModelConfig, 'hiddenSize'>, requested?: WeightMode): WeightMode {
  return requested ?? (cfg.hiddenSize <= SINGLE_THREAD_MAX_WIDTH ? 'initializers' : 'inputs');
}

/** The default head chunk keeps one [rows, V] float32 buffer (logits, log-softmax) within this many bytes… */
export const HEAD_CHUNK_BYTES = 8 * 2 ** 20;
/** …or within this many when the output matrix is at least HEAD_HEAVY_SHARE of the parameters… */
export const HEAD_HEAVY_CHUNK_BYTES = 32 * 2 ** 20;
export const HEAD_HEAVY_SHARE = 1 / 8;
/** …and at most this many rows (a small vocabulary's chunk: windows of up to 256 tokens in one run). */
export const HEAD_MAX_ROWS = 256;

/**
 * Rows of the output matrix computed per head run: `requested`, else as many as keep a [rows, V]
 * float32 buffer within the chunk's bytes, at most HEAD_MAX_ROWS. onnxruntime's arena keeps the
 * largest buffers a run asked for, so the chunk bounds the head's share of peak memory: on the
 * TinyLlama-shaped model (output matrix 6 % of the parameters) 65-row chunks (8 MiB) peak at 1.08×
 * the float32 weights against 1.09× with 131 rows and 1.11× with 256, at the same speed. Each head
 * run repacks the whole output matrix (it is fed as an input, not pre-packed), so where that matrix is
 * a large share of the model (GPT-2 small, OPT-125m, Pythia-160m: 24–31 %) larger chunks pay: 166 rows
 * (32 MiB) instead of 41 score a GPT-2-small-shaped pass 11 % faster on one or two threads, with the
 * same numbers (headChunks; README, Performance). The mini models' 2048-token vocabulary: 256 rows.
 */
export function headRowsFor(cfg: ModelConfig, requested?: number): number {
  if (requested !== undefined) return Math.max(1, Math.floor(requested));
  const bytes = outputShare(cfg) >= HEAD_HEAVY_SHARE ? HEAD_HEAVY_CHUNK_BYTES : HEAD_CHUNK_BYTES;
  return Math.max(1, Math.min(HEAD_MAX_ROWS, Math.floor(bytes / (4 * cfg.vocabSize))));
}

/**
 * The head runs over `rows` rows in chunks of `headRows`: [start, end) pairs covering 0..rows−1. A
 * last chunk of one row joins the one before it (headRows + 1 rows): onnxruntime multiplies a single
 * row by another kernel, whose sums round differently (measured on GPT-2 small: 1e-6 in one NLL), so
 * without this a position's numbers would depend on where the chunks fall. With it they do not
 * (test/engine/ort-engine.test.ts: the same NLL for every chunk size of 2 rows or more). A chunk of
 * one row only when rows or headRows is 1.
 */
export function headChunks(rows: number, headRows: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < rows;) {
    let e = Math.min(rows, s + headRows);
    if (rows - e === 1) e = rows;
    out.push([s, e]);
    s = e;
  }
  return out;
}

/** What the head's chunking puts in an engine's identity (its numbers' key in caches). */
export function headIdentity(headRows: number): string {
  return `headRows=${headRows} no-single-row-runs`;
}

let loading: Promise<Ort> | undefined;

async function load(): Promise<Ort> {
  let ort: Ort;
  try {
    const m = (await import('onnxruntime-node')) as Ort & { default?: Ort };
    ort = m.default ?? m;
  } catch (e) {
    throw new OrtUnavailableError(firstLine(e));
  }
  try {
    // The binding is only loaded when the first session is created: do it now, on a tiny graph.
    const b = new GraphBuilder('probe');
    const x = b.input('x', DataType.FLOAT, [1]);
    b.output(b.node('Neg', [x]), 'y', DataType.FLOAT, [1]);
    const s = await ort.InferenceSession.create(b.encode().model, { logSeverityLevel: 3 });
    await s.release();
  } catch (e) {
    throw new OrtUnavailableError(firstLine(e));
  }
  return ort;
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].trim() || 'unknown error';
}

/** onnxruntime-node, loaded and checked once per process. Rejects with OrtUnavailableError. */
export function loadOrt(): Promise<Ort> {
  loading ??= load();
  return loading;
}
