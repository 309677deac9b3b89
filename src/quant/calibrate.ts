// Calibration: one forward pass of the full-precision model over calibration token ids, collecting
// for every block linear weight the diagonal of H = XᵀX of its input X [tokens, inDim]
// (H_jj = Σ_t x_tj², so ‖X_j‖₂ = √H_jj). The statistics feed the `activation` and `hessian`
// preservation criteria (preserve.ts). Reference: Wanda / AWQ (‖X_j‖₂), OWQ / GPTQ (H = XᵀX).
//
// The text is cut into consecutive, non-overlapping windows of at most `context` tokens (default: the
// model's positions, at most 512), each run from position 0, as GPTQ/AWQ calibration samples are;
// `maxTokens` (default 16 384) bounds the cost, shared fairly between the texts (languages). H is a plain sum over
// tokens (not divided by their
// count): a common positive factor changes no ranking within one calibration set.

import { ortLinearSumSq } from '../engine/ort/blocks.ts';
import { OrtUnavailableError } from '../engine/ort/runtime.ts';
import type { EngineName } from '../engine/types.ts';
import { ConfigError } from '../errors.ts';
import { forward, type ForwardHooks } from '../model/forward.ts';
import type { Model } from '../model/model.ts';
import { blockLinears } from '../model/spec.ts';
import type { ActivationStats } from './preserve.ts';

export interface CalibrationOptions {
  /** Longest window (default min(model positions, 512)). */
  readonly context?: number;
  /** Most tokens used in total (default 16 384); the rest of the text is ignored. */
  readonly maxTokens?: number;
  /** Weight names to collect (default: every block linear). */
  readonly names?: Iterable<string>;
}

export const DEFAULT_CALIBRATION_TOKENS = 16384;

/** The largest q with Σ min(length_i, q) ≤ budget: what every sequence may keep when a budget is shared fairly. */
export function commonQuota(lengths: readonly number[], budget: number): number {
  const fits = (q: number) => lengths.reduce((a, n) => a + Math.min(n, q), 0) <= budget;
  let lo = 0;
  let hi = Math.max(0, ...lengths);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Cuts token sequences into windows of at most `context` tokens, at most `maxTokens` in all. When the
 * limit bites, it is shared fairly: every sequence (e.g. one per calibration language) keeps the
 * start of its text up to a common quota q, the largest with Σ min(length_i, q) ≤ maxTokens, so a
 * long first language cannot crowd out the others.
 */
export function calibrationWindows(
  sequences: readonly (readonly number[] | Int32Array)[],
  context: number,
  maxTokens: number,
): Int32Array[] {
  const quota = commonQuota(
    sequences.map((s) => s.length),
    maxTokens,
  );
  const out: Int32Array[] = [];
  for (const s of sequences) {
    const n = Math.min(s.length, quota);
    for (let i = 0; i < n; i += context) out.push(Int32Array.from(s.slice(i, Math.min(n, i + context))));
  }
  return out;
}

/** The calibration windows and their token count, after checking the options. */
function prepare(
  model: Model,
  sequences: readonly (readonly number[] | Int32Array)[],
  opts: CalibrationOptions,
): { windows: Int32Array[]; tokens: number } {
  const maxPos = model.config.maxPositions ?? 512;
  const context = opts.context ?? Math.min(512, maxPos);
  if (!Number.isInteger(context) || context < 1 || context > maxPos) {
    throw new ConfigError(
      `calibration context must be an integer from 1 to ${maxPos} (this model's positions), got ${context}`,
    );
  }
  const maxTokens = opts.maxTokens ?? DEFAULT_CALIBRATION_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 1)
    throw new ConfigError(`calibration token limit must be a positive integer, got ${maxTokens}`);
  const windows = calibrationWindows(sequences, context, maxTokens);
  const tokens = windows.reduce((a, w) => a + w.length, 0);
  if (tokens === 0) throw new ConfigError('the calibration text gave no tokens; give a non-empty calibration text');
  return { windows, tokens };
}

/** Runs the model over the calibration windows once and returns diag(XᵀX) per block linear. */
export function collectActivationStats(
  model: Model,
  sequences: readonly (readonly number[] | Int32Array)[],
  opts: CalibrationOptions = {},
): ActivationStats {
  const { windows, tokens } = prepare(model, sequences, opts);
  const wanted = new Set(opts.names ?? blockLinears(model.config).map((s) => s.name));
  const sumSq = new Map<string, Float64Array>();
  const hooks: ForwardHooks = {
    onLinearInput(name, x, T, inDim) {
      if (!wanted.has(name)) return;
      let acc = sumSq.get(name);
      if (!acc) sumSq.set(name, (acc = new Float64Array(inDim)));
      for (let t = 0; t < T; t++) {
        const r = t * inDim;
        for (let j = 0; j < inDim; j++) acc[j] += x[r + j] * x[r + j];
      }
    },
  };
  for (const ids of windows) forward(model, ids, hooks);
  for (const n of wanted)
    if (!sumSq.has(n)) throw new Error(`calibration: the forward pass reported no input for ${n}`);
  return { tokens, sumSq };
}

export interface FastCalibrationOptions extends CalibrationOptions {
  /** 'auto' (default): onnxruntime when it loads, else the reference forward; 'ort'; 'reference'. */
  readonly engine?: EngineName;
  /** onnxruntime intra-op threads (default: threadsFor, one for a narrow model, else every core). */
  readonly threads?: number;
}

/**
 * The same statistics as collectActivationStats, collected on the onnxruntime engine: the graph
 * returns each linear's Σ_t x_tj² per window (float32), summed across windows in float64. Falls back
 * to the reference forward when onnxruntime is unavailable (engine 'auto') or when asked.
 */
export async function collectActivationStatsFast(
  model: Model,
  sequences: readonly (readonly number[] | Int32Array)[],
  opts: FastCalibrationOptions = {},
): Promise<ActivationStats> {
  const engine = opts.engine ?? 'auto';
  if (engine === 'reference') return collectActivationStats(model, sequences, opts);
  const { windows, tokens } = prepare(model, sequences, opts);
  const names = [...new Set(opts.names ?? blockLinears(model.config).map((s) => s.name))];
  try {
    return { tokens, sumSq: await ortLinearSumSq(model, windows, names, opts.threads) };
  } catch (e) {
    if (engine === 'auto' && e instanceof OrtUnavailableError) return collectActivationStats(model, sequences, opts);
    throw e;
  }
}

/** Serialisable form of the statistics (for caching between experiments). */
export function statsToJSON(s: ActivationStats): { tokens: number; sumSq: Record<string, number[]> } {
  return { tokens: s.tokens, sumSq: Object.fromEntries([...s.sumSq].map(([k, v]) => [k, [...v]])) };
}

export function statsFromJSON(j: { tokens: number; sumSq: Record<string, number[]> }): ActivationStats {
  return { tokens: j.tokens, sumSq: new Map(Object.entries(j.sumSq).map(([k, v]) => [k, Float64Array.from(v)])) };
}
