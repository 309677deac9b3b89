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

import { ConfigError } from '../errors.ts';
import { block, embed } from '../model/forward.ts';
import { withWeights, weight, type Model } from '../model/model.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { awqSearch, type AwqOptions } from './awq.ts';
import { assertModelFinite, finishQuantized, type QuantizeResult } from './apply.ts';
import { accumulateGram, outputError, quantizeGptq, symmetrize, type GptqOptions } from './gptq.ts';
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

/** Quantises the scope of `model` with GPTQ or AWQ on the calibration windows. */
export function quantizeModelCalibrated(model: Model, opts: CalibratedOptions): CalibratedResult {
  checkSpec(opts.spec);
  if (opts.method !== 'gptq' && opts.method !== 'awq')
    throw new ConfigError(`unknown calibrated method ${JSON.stringify(opts.method)}; use gptq or awq`);
  const scope = opts.scope ?? DEFAULT_SCOPE;
  const targets = selectTargets(model, scope);
  assertModelFinite(model);
  const windows = opts.windows.filter((w) => w.length > 0);
  const tokens = windows.reduce((a, w) => a + w.length, 0);
  if (tokens === 0)
    throw new ConfigError(
      `${opts.method.toUpperCase()} needs calibration text and got no tokens; give a calibration source`,
    );
  const withErrors = opts.errors ?? true;
  const L = model.config.numLayers;

  const quantized = new Map<string, QuantizedTensor>();
  const dequantized = new Map<string, Tensor>();
  const calibration: LayerCalibration[] = [];
  const byLayer = new Map<number, QuantTarget[]>();
  for (const t of targets) if (t.kind === 'linear') byLayer.set(t.layer!, [...(byLayer.get(t.layer!) ?? []), t]);

  let current = model;
  let states = byLayer.size ? windows.map((ids) => embed(model, ids)) : [];
  const lastLayer = Math.max(-1, ...byLayer.keys());
  for (let l = 0; l <= lastLayer; l++) {
    const layerTargets = byLayer.get(l) ?? [];
    if (layerTargets.length) {
      const wanted = new Set(layerTargets.map((t) => t.name));
      // 1. one full-precision pass through block l: the input rows of its linears
      const stats: InputStats[] = [];
      const statsOf = new Map<string, InputStats>();
      windows.forEach((ids, wi) => {
        let prev: { x: Float32Array; s: InputStats } | null = null;
        block(current, l, states[wi], ids.length, {
          onLinearInput(name, x, T, inDim) {
            if (!wanted.has(name)) return;
            let s = statsOf.get(name);
            if (!s) {
              // first window: a linear whose rows equal the previous linear's shares its statistics
              if (wi === 0 && prev && prev.s.inDim === inDim && sameRows(prev.x, x.subarray(0, T * inDim))) {
                s = prev.s;
                s.names.push(name);
                statsOf.set(name, s);
              } else {
                s = {
                  gram: new Float64Array(inDim * inDim),
                  absSum: new Float64Array(inDim),
                  rows: 0,
                  inDim,
                  names: [name],
                };
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
        });
      });
      for (const s of stats) symmetrize(s.gram, s.inDim);
      // 2. quantise block l's linears from their rows
      const replacements = new Map<string, Tensor>();
      const targetOf = new Map(layerTargets.map((t) => [t.name, t]));
      for (const s of stats) {
        const group = s.names.map((n) => targetOf.get(n)!);
        const results: { t: QuantTarget; q: QuantizedTensor; dq: Tensor; extra: Partial<LayerCalibration> }[] = [];
        if (opts.method === 'gptq') {
          for (const t of group) {
            const { q, info } = quantizeGptq(weight(model, t.name), t.layout, s.gram, s.rows, opts.spec, {
              ...opts.gptq,
              name: t.name,
            });
            results.push({ t, q, dq: dequantize(q), extra: { deadInputs: info.deadInputs, damp: info.damp } });
          }
        } else {
          const meanAbs = new Float64Array(s.inDim);
          for (let j = 0; j < s.inDim; j++) meanAbs[j] = s.absSum[j] / s.rows;
          const r = awqSearch(
            group.map((t) => ({ name: t.name, weight: weight(model, t.name), layout: t.layout })),
            s.gram,
            meanAbs,
            opts.spec,
            opts.awq,
          );
          r.linears.forEach((x, k) => results.push({ t: group[k], q: x.q, dq: x.dequant, extra: { alpha: r.alpha } }));
        }
        for (const { t, q, dq, extra } of results) {
          quantized.set(t.name, q);
          dequantized.set(t.name, dq);
          for (const n of t.replace) replacements.set(n, dq);
          const w = weight(model, t.name);
          let outErr = NaN;
          let outErrRtn = NaN;
          let outEnergy = NaN;
          if (withErrors) {
            const zero = new Float32Array(w.data.length);
            outErr = outputError(w.data, dq.data, t.layout, t.inDim, t.outDim, s.gram);
            outErrRtn = outputError(
              w.data,
              dequantize(quantizeRtn(w, t.layout, opts.spec)).data,
              t.layout,
              t.inDim,
              t.outDim,
              s.gram,
            );
            outEnergy = outputError(w.data, zero, t.layout, t.inDim, t.outDim, s.gram);
          }
          calibration.push({ name: t.name, layer: l, outErr, outErrRtn, outEnergy, rows: s.rows, ...extra });
        }
      }
      current = withWeights(current, replacements);
    }
    // 3. carry the states through block l as quantised (not needed after the last quantised block)
    if (l < lastLayer) states = states.map((x, wi) => block(current, l, x, windows[wi].length));
    opts.onBlock?.(l, L);
  }

  // targets outside the blocks: RTN
  for (const t of targets) {
    if (t.kind === 'linear') continue;
    const q = quantizeRtn(weight(model, t.name), t.layout, opts.spec, { name: t.name });
    quantized.set(t.name, q);
    dequantized.set(t.name, dequantize(q));
  }
  const done = finishQuantized(model, targets, quantized, dequantized, opts.otherBits ?? 16);
  return {
    ...done,
    calibration,
    calibrationTokens: tokens,
  };
}
