// The calibrated methods on a whole model: GPTQ (gptq.ts) and AWQ (awq.ts), block by block.
// Reference: test/fixtures/golden/gptq/README.md §2 (the sequential calibration GPTQ's golden data
// defines; AWQ uses the same loop).
//
// Sequential: the calibration windows' hidden states enter block 0 from the embedding; block l is run
// once with its full-precision weights on the states that leave blocks < l *already quantised*, which
// gives every linear of block l its input rows (accumulated into Σ x xᵀ in float64, and Σ|x| for AWQ);
// block l's linears are then quantised, and the states are carried through the quantised block l.
// Linears that read the same input (found by comparing the rows: q/k/v, gate/up) share one Gram matrix
// and form AWQ's groups. Targets outside the blocks (output matrix, embeddings) get RTN. The per-linear
// calibration output error ‖X Wᵀ − X Qᵀ‖² (and RTN's on the same rows, for comparison) is reported.

import { ortCalibrationPass, type CalibrationPass } from '../engine/ort/blocks.ts';
import { OrtUnavailableError } from '../engine/ort/runtime.ts';
import type { EngineName } from '../engine/types.ts';
import { ConfigError } from '../errors.ts';
import { block, embed } from '../model/forward.ts';
import { withWeights, weight, type Model } from '../model/model.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { awqSearch, type AwqOptions } from './awq.ts';
import { assertModelFinite, finishQuantized, type QuantizeResult } from './apply.ts';
import {
  accumulateGram,
  gramQuadraticJs,
  quantizeGptq,
  quantizeGptqWith,
  outputErrorWith,
  symmetrize,
  type GptqOptions,
  type GramQuadratic,
  type MatMul64,
} from './gptq.ts';
import { checkSpec, dequantize, quantizeRtn, type QuantizedTensor, type QuantSpec } from './rtn.ts';
import { DEFAULT_SCOPE, selectTargets, type QuantScope, type QuantTarget } from './scope.ts';

export type Method = 'rtn' | 'gptq' | 'awq';
export const METHODS: readonly Method[] = ['rtn', 'gptq', 'awq'];
export type CalibratedMethod = Exclude<Method, 'rtn'>;

export interface CalibratedOptions {
  readonly method: CalibratedMethod;
  readonly spec: QuantSpec;
  readonly scope?: QuantScope;
  /** Calibration windows of token ids, each run alone from position 0. */
  readonly windows: readonly Int32Array[];
  readonly gptq?: Omit<GptqOptions, 'name'>;
  readonly awq?: AwqOptions;
  /** Compute each linear's output error, and RTN's, on the calibration rows (default true; costs out·in² each). */
  readonly errors?: boolean;
  readonly otherBits?: number;
  /** Called after each block (progress). */
  readonly onBlock?: (layer: number, numLayers: number) => void;
  /** Called with each block's input statistics before its linears are quantised (tests, diagnostics). */
  readonly onStats?: (layer: number, stats: readonly BlockInputStats[]) => void;
}

/** One distinct linear input of a block: Σ x xᵀ [in, in] and Σ|x_j| (float64) over `rows` rows. */
export interface BlockInputStats {
  readonly gram: Float64Array;
  readonly absSum: Float64Array;
  readonly rows: number;
  readonly inDim: number;
  /** The linears reading this input, in call order. */
  readonly names: readonly string[];
}

export interface LayerCalibration {
  readonly name: string;
  readonly layer: number;
  /** ‖X Wᵀ − X Qᵀ‖² on the calibration rows with this method, and with RTN on the same grid (NaN when not computed). */
  readonly outErr: number;
  readonly outErrRtn: number;
  /** ‖X Wᵀ‖² (the output energy), for relative errors. */
  readonly outEnergy: number;
  readonly rows: number;
  /** GPTQ: inputs with no activation; dampening added. AWQ: the chosen α. */
  readonly deadInputs?: number;
  readonly damp?: number;
  readonly alpha?: number;
}

export interface CalibratedResult extends QuantizeResult {
  readonly calibration: readonly LayerCalibration[];
  readonly calibrationTokens: number;
}

interface InputStats {
  gram: Float64Array;
  absSum: Float64Array;
  rows: number;
  inDim: number;
  /** Names reading this input, in call order. */
  names: string[];
}

function sameRows(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

/** Σ x xᵀ and Σ|x| per distinct linear input of one block, fed the rows window by window in call order. */
function blockCollector(wanted: ReadonlySet<string>) {
  const stats: InputStats[] = [];
  const statsOf = new Map<string, InputStats>();
  let prev: { x: Float32Array; s: InputStats } | null = null;
  let window = -1;
  return {
    stats,
    /** The rows x [T, inDim] the linear `name` reads in window `wi`. */
    add(wi: number, name: string, x: Float32Array, T: number, inDim: number): void {
      if (!wanted.has(name)) return;
      if (wi !== window) {
        window = wi;
        prev = null;
      }
      let s = statsOf.get(name);
      if (!s) {
        // first window: a linear whose rows equal the previous linear's shares its statistics
        if (wi === 0 && prev && prev.s.inDim === inDim && sameRows(prev.x, x.subarray(0, T * inDim))) {
          s = prev.s;
          s.names.push(name);
          statsOf.set(name, s);
        } else {
          s = { gram: new Float64Array(inDim * inDim), absSum: new Float64Array(inDim), rows: 0, inDim, names: [name] };
          stats.push(s);
          statsOf.set(name, s);
        }
      }
      if (wi === 0) prev = { x: Float32Array.from(x.subarray(0, T * inDim)), s };
      if (s.names[0] !== name) return; // shared: counted once, by the first reader
      accumulateGram(s.gram, x, T, inDim);
      for (let t = 0; t < T; t++) for (let j = 0; j < inDim; j++) s.absSum[j] += Math.abs(x[t * inDim + j]);
      s.rows += T;
    },
    /** One window's float64 sums of an input the linears `names` read (window 0 first). */
    addSums(wi: number, names: readonly string[], gram: Float64Array, absSum: Float64Array, T: number): void {
      const read = names.filter((n) => wanted.has(n));
      if (!read.length) return;
      let s = statsOf.get(read[0]);
      if (!s) {
        if (wi !== 0) throw new Error(`calibration: ${read[0]} has no statistics from the first window`);
        const inDim = absSum.length;
        s = { gram: new Float64Array(inDim * inDim), absSum: new Float64Array(inDim), rows: 0, inDim, names: read };
        stats.push(s);
        for (const n of read) statsOf.set(n, s);
      }
      for (let k = 0; k < gram.length; k++) s.gram[k] += gram[k];
      for (let j = 0; j < s.inDim; j++) s.absSum[j] += absSum[j];
      s.rows += T;
    },
    done(): InputStats[] {
      for (const s of stats) symmetrize(s.gram, s.inDim);
      return stats;
    },
  };
}

interface Plan {
  readonly targets: readonly QuantTarget[];
  readonly windows: Int32Array[];
  readonly tokens: number;
  readonly byLayer: Map<number, QuantTarget[]>;
  readonly lastLayer: number;
  readonly quantized: Map<string, QuantizedTensor>;
  readonly dequantized: Map<string, Tensor>;
  readonly calibration: LayerCalibration[];
}

function plan(model: Model, opts: CalibratedOptions): Plan {
  checkSpec(opts.spec);
  if (opts.method !== 'gptq' && opts.method !== 'awq') {
    throw new ConfigError(`unknown calibrated method ${JSON.stringify(opts.method)}; use gptq or awq`);
  }
  const scope = opts.scope ?? DEFAULT_SCOPE;
  const targets = selectTargets(model, scope);
  assertModelFinite(model);
  const windows = opts.windows.filter((w) => w.length > 0);
  const tokens = windows.reduce((a, w) => a + w.length, 0);
  if (tokens === 0) {
    const m = opts.method.toUpperCase();
    throw new ConfigError(`${m} needs calibration text and got no tokens; give a calibration source`);
  }
  const byLayer = new Map<number, QuantTarget[]>();
  for (const t of targets) if (t.kind === 'linear') byLayer.set(t.layer!, [...(byLayer.get(t.layer!) ?? []), t]);
  const lastLayer = Math.max(-1, ...byLayer.keys());
  const fresh = { quantized: new Map(), dequantized: new Map(), calibration: [] };
  return { targets, windows, tokens, byLayer, lastLayer, ...fresh };
}

function statsOf(c: ReturnType<typeof blockCollector>, l: number, opts: CalibratedOptions): InputStats[] {
  const stats = c.done();
  opts.onStats?.(l, stats);
  return stats;
}

/**
 * Quantises block l's linears from their input statistics; returns the weights replacing them.
 * `kernels` computes the output errors (AWQ's objective, the reported errors) and, when it offers
 * matrix products, GPTQ's solver by blocks (else the plain solver).
 */
async function quantizeBlock(
  model: Model,
  l: number,
  stats: readonly InputStats[],
  p: Plan,
  opts: CalibratedOptions,
  kernels: { quadratic: GramQuadratic; matmul?: MatMul64 },
): Promise<Map<string, Tensor>> {
  const { quadratic, matmul } = kernels;
  const withErrors = opts.errors ?? true;
  const replacements = new Map<string, Tensor>();
  const targetOf = new Map((p.byLayer.get(l) ?? []).map((t) => [t.name, t]));
  for (const s of stats) {
    const group = s.names.map((n) => targetOf.get(n)!);
    const results: { t: QuantTarget; q: QuantizedTensor; dq: Tensor; extra: Partial<LayerCalibration> }[] = [];
    if (opts.method === 'gptq') {
      for (const t of group) {
        const gopts = { ...opts.gptq, name: t.name };
        const w = weight(model, t.name);
        const { q, info } = matmul
          ? await quantizeGptqWith(matmul, w, t.layout, s.gram, s.rows, opts.spec, gopts)
          : quantizeGptq(w, t.layout, s.gram, s.rows, opts.spec, gopts);
        results.push({ t, q, dq: dequantize(q), extra: { deadInputs: info.deadInputs, damp: info.damp } });
      }
    } else {
      const meanAbs = new Float64Array(s.inDim);
      for (let j = 0; j < s.inDim; j++) meanAbs[j] = s.absSum[j] / s.rows;
      const linears = group.map((t) => ({ name: t.name, weight: weight(model, t.name), layout: t.layout }));
      const r = await awqSearch(linears, s.gram, meanAbs, opts.spec, opts.awq, quadratic);
      r.linears.forEach((x, k) => results.push({ t: group[k], q: x.q, dq: x.dequant, extra: { alpha: r.alpha } }));
    }
    for (const { t, q, dq, extra } of results) {
      p.quantized.set(t.name, q);
      p.dequantized.set(t.name, dq);
      for (const n of t.replace) replacements.set(n, dq);
      const w = weight(model, t.name);
      let outErr = NaN;
      let outErrRtn = NaN;
      let outEnergy = NaN;
      if (withErrors) {
        const err = (q: Float32Array) => outputErrorWith(quadratic, w.data, q, t.layout, t.inDim, t.outDim, s.gram);
        outErr = await err(dq.data);
        outErrRtn = await err(dequantize(quantizeRtn(w, t.layout, opts.spec)).data);
        outEnergy = await err(new Float32Array(w.data.length));
      }
      p.calibration.push({ name: t.name, layer: l, outErr, outErrRtn, outEnergy, rows: s.rows, ...extra });
    }
  }
  return replacements;
}

/** RTN for the targets outside the blocks, then the quantised model. */
function finish(model: Model, p: Plan, opts: CalibratedOptions): CalibratedResult {
  for (const t of p.targets) {
    if (t.kind === 'linear') continue;
    const q = quantizeRtn(weight(model, t.name), t.layout, opts.spec, { name: t.name });
    p.quantized.set(t.name, q);
    p.dequantized.set(t.name, dequantize(q));
  }
  const done = finishQuantized(model, p.targets, p.quantized, p.dequantized, opts.otherBits ?? 16);
  return { ...done, calibration: p.calibration, calibrationTokens: p.tokens };
}

/** Quantises the scope of `model` with GPTQ or AWQ on the calibration windows (reference forward, one core). */
export async function quantizeModelCalibrated(model: Model, opts: CalibratedOptions): Promise<CalibratedResult> {
  const p = plan(model, opts);
  const { windows } = p;
  const L = model.config.numLayers;
  let current = model;
  let states = p.byLayer.size ? windows.map((ids) => embed(model, ids)) : [];
  for (let l = 0; l <= p.lastLayer; l++) {
    const layerTargets = p.byLayer.get(l) ?? [];
    if (layerTargets.length) {
      // 1. one full-precision pass through block l: the input rows of its linears
      const c = blockCollector(new Set(layerTargets.map((t) => t.name)));
      windows.forEach((ids, wi) => {
        const onLinearInput = (name: string, x: Float32Array, T: number, inDim: number) => c.add(wi, name, x, T, inDim);
        block(current, l, states[wi], ids.length, { onLinearInput });
      });
      // 2. quantise block l's linears from their rows
      current = withWeights(
        current,
        await quantizeBlock(model, l, statsOf(c, l, opts), p, opts, { quadratic: gramQuadraticJs }),
      );
    }
    // 3. carry the states through block l as quantised (not needed after the last quantised block)
    if (l < p.lastLayer) states = states.map((x, wi) => block(current, l, x, windows[wi].length));
    opts.onBlock?.(l, L);
  }
  return finish(model, p, opts);
}

export interface FastCalibratedOptions extends CalibratedOptions {
  /** 'auto' (default): onnxruntime when it loads, else the reference forward; 'ort'; 'reference'. */
  readonly engine?: EngineName;
  /** onnxruntime intra-op threads (default: threadsFor, one for a narrow model, else every core). */
  readonly threads?: number;
}

/**
 * quantizeModelCalibrated with the forward passes on onnxruntime: the same sequential loop, each block
 * a one-block graph (full-precision weights for its linears' input statistics, then its quantised
 * weights to carry the states on). The graph casts the float32 rows to float64 and returns Σ x xᵀ and
 * Σ|x| per window (products exact, sums in float64, as accumulateGram's), summed across windows here.
 * Linears reading the same graph value share one input (the reference path finds them by comparing
 * rows; the same groups, tested). The solvers' large products run there too, in float64: AWQ's output
 * errors and GPTQ's U and lazy-block updates (quantizeGptqWith), equal to the plain loops' to rounding.
 * Falls back to the reference forward when onnxruntime is unavailable
 * (engine 'auto').
 */
export async function quantizeModelCalibratedFast(
  model: Model,
  opts: FastCalibratedOptions,
): Promise<CalibratedResult> {
  const engine = opts.engine ?? 'auto';
  if (engine === 'reference') return quantizeModelCalibrated(model, opts);
  const p = plan(model, opts);
  if (!p.byLayer.size) return finish(model, p, opts);
  let pass: CalibrationPass;
  try {
    pass = await ortCalibrationPass(model, opts.threads);
  } catch (e) {
    if (engine === 'auto' && e instanceof OrtUnavailableError) return quantizeModelCalibrated(model, opts);
    throw e;
  }
  const { windows } = p;
  const L = model.config.numLayers;
  try {
    let current = model;
    let states: Float32Array[] = [];
    for (const ids of windows) states.push(await pass.entry(ids));
    for (let l = 0; l <= p.lastLayer; l++) {
      const layerTargets = p.byLayer.get(l) ?? [];
      if (layerTargets.length) {
        const names = layerTargets.map((t) => t.name);
        const c = blockCollector(new Set(names));
        for (let wi = 0; wi < windows.length; wi++) {
          const T = windows[wi].length;
          const sums = await pass.sums(current, l, names, states[wi], T);
          for (const r of sums) c.addSums(wi, r.names, r.gram, r.absSum, T);
        }
        const stats = statsOf(c, l, opts);
        current = withWeights(current, await quantizeBlock(model, l, stats, p, opts, pass));
      }
      if (l < p.lastLayer) {
        const next: Float32Array[] = [];
        for (let wi = 0; wi < windows.length; wi++) {
          next.push(await pass.carry(current, l, states[wi], windows[wi].length));
        }
        states = next;
      }
      await pass.releaseBlock(l);
      opts.onBlock?.(l, L);
    }
  } finally {
    await pass.dispose();
  }
  return finish(model, p, opts);
}
