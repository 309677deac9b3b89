// Quantises a loaded model: picks the targets of the scope, chooses the preserved weights (if any),
// quantise-dequantises every target with RTN and returns a model whose targets are replaced by their
// dequantised float32 tensors, with per-tensor errors and the bit accounting.
// Reference: DESIGN.md §5; the pieces are in rtn.ts, scope.ts, preserve.ts and bits.ts.

import { ConfigError } from '../errors.ts';
import { withWeights, weight, type Model } from '../model/model.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { accountBits, tensorBits, type BitAccount, type TensorBits } from './bits.ts';
import { selectPreserved, type PreserveOptions } from './preserve.ts';
import {
  assertFinite,
  checkSpec,
  dequantize,
  quantError,
  quantizeRtn,
  type QuantError,
  type QuantizedTensor,
  type QuantSpec,
} from './rtn.ts';
import { DEFAULT_SCOPE, selectTargets, type QuantScope, type QuantTarget } from './scope.ts';

export interface PreservePlan extends PreserveOptions {
  /** Group ranges from the weights left after preservation (default) or from all weights. */
  readonly scaleFrom?: 'remaining' | 'all';
}

export interface QuantizeModelOptions {
  readonly spec: QuantSpec;
  readonly scope?: QuantScope;
  /** Keep a share of weights in full precision; null or a zero budget = plain RTN. */
  readonly preserve?: PreservePlan | null;
  /** Bits per weight of the tensors outside the scope in the model size (default 16). */
  readonly otherBits?: number;
}

export interface TensorReport {
  readonly name: string;
  /** Model names that received this quantised tensor. */
  readonly replaced: readonly string[];
  readonly kind: QuantTarget['kind'];
  readonly layer?: number;
  readonly role?: string;
  readonly layout: QuantTarget['layout'];
  readonly shape: readonly number[];
  readonly groupSize: number;
  readonly numGroups: number;
  /** Weights kept in full precision, and kept columns (dense preservation). */
  readonly kept: number;
  readonly keptColumns: number;
  readonly error: QuantError;
  readonly bits: TensorBits;
}

export interface QuantizeResult {
  /** The model with every target replaced by its dequantised tensor. */
  readonly model: Model;
  readonly targets: readonly QuantTarget[];
  /** Quantised records by target name. */
  readonly quantized: ReadonlyMap<string, QuantizedTensor>;
  readonly tensors: readonly TensorReport[];
  readonly account: BitAccount;
}

function hasBudget(p: PreservePlan | null | undefined): p is PreservePlan {
  if (!p) return false;
  const b = p.budget;
  if (b.kind === 'map') return [...b.shares.values()].some((s) => s !== 0) || (b.rest ?? 0) !== 0;
  return b.share !== 0;
}

/**
 * A per-layer share map must name blocks of this model that have weights in the scope: a share on a
 * block the scope leaves out (or that does not exist) would silently keep nothing.
 */
function checkLayerShares(preserve: PreservePlan, targets: readonly QuantTarget[], numLayers: number): void {
  if (preserve.budget.kind !== 'map') return;
  const inScope = new Set(targets.map((t) => t.layer).filter((l): l is number => l !== undefined));
  for (const l of preserve.budget.shares.keys()) {
    if (!Number.isInteger(l) || l < 0 || l >= numLayers) {
      throw new ConfigError(
        `a preserved share is given for layer ${l}, but this model has layers 0..${numLayers - 1}; fix the per-layer shares`,
      );
    }
    if (!inScope.has(l)) {
      throw new ConfigError(
        `a preserved share is given for layer ${l}, but no weight of layer ${l} is quantised in this scope; add the layer to the scope or drop its share`,
      );
    }
  }
}

/** Quantise-dequantise the scope of `model`. Throws ConfigError / CheckpointError for the user's mistakes. */
export function quantizeModel(model: Model, opts: QuantizeModelOptions): QuantizeResult {
  checkSpec(opts.spec);
  const scope = opts.scope ?? DEFAULT_SCOPE;
  const targets = selectTargets(model, scope);
  // NaN or Inf anywhere (not only in the scope) makes every score of the quantised model meaningless:
  // refuse the checkpoint, naming the tensor, before any work.
  assertModelFinite(model);
  if (opts.preserve) checkLayerShares(opts.preserve, targets, model.config.numLayers);
  const weights = targets.map((t) => weight(model, t.name));
  const preserve = opts.preserve ?? null;
  const selections = hasBudget(preserve)
    ? selectPreserved(
        targets.map((target, i) => ({ target, weight: weights[i] })),
        preserve,
      )
    : null;

  const quantized = new Map<string, QuantizedTensor>();
  const dequantized = new Map<string, Tensor>();
  targets.forEach((t, i) => {
    const sel = selections?.[i];
    const q = quantizeRtn(weights[i], t.layout, opts.spec, {
      name: t.name,
      keep: sel && sel.count > 0 ? sel.keep : null,
      keptColumns: sel?.columns ?? null,
      scaleFrom: preserve?.scaleFrom ?? 'remaining',
    });
    quantized.set(t.name, q);
    dequantized.set(t.name, dequantize(q));
  });
  return finishQuantized(model, targets, quantized, dequantized, opts.otherBits ?? 16);
}

/** Refuses NaN/±Inf in any tensor of the model (a tensor shared by several names once), naming it. */
export function assertModelFinite(model: Model): void {
  const seen = new Set<Tensor>();
  for (const [name, t] of model.weights) {
    if (seen.has(t)) continue;
    seen.add(t);
    assertFinite(t, name);
  }
}

/**
 * The quantised model from every target's quantised record and dequantised tensor (whatever method
 * made them: RTN here, GPTQ/AWQ in calibrated.ts): the model with each target's names replaced, one
 * report per target (in target order) and the honest bit account.
 */
export function finishQuantized(
  model: Model,
  targets: readonly QuantTarget[],
  quantized: Map<string, QuantizedTensor>,
  dequantized: ReadonlyMap<string, Tensor>,
  otherBits: number,
): QuantizeResult {
  const replacements = new Map<string, Tensor>();
  const bitsByName = new Map<string, TensorBits>();
  const tensors: TensorReport[] = targets.map((t) => {
    const q = quantized.get(t.name)!;
    const dq = dequantized.get(t.name)!;
    const w = weight(model, t.name);
    const bits = tensorBits(t.name, q);
    for (const n of t.replace) {
      replacements.set(n, dq);
      bitsByName.set(n, bits);
    }
    return {
      name: t.name,
      replaced: t.replace,
      kind: t.kind,
      layer: t.layer,
      role: t.role,
      layout: t.layout,
      shape: [...w.shape],
      groupSize: q.groupSize,
      numGroups: q.numGroups,
      kept: q.kept?.indices.length ?? 0,
      keptColumns: q.kept?.columns?.length ?? 0,
      error: quantError(w.data, dq.data),
      bits,
    };
  });
  const qModel = withWeights(model, replacements);
  return { model: qModel, targets, quantized, tensors, account: accountBits(qModel, bitsByName, otherBits) };
}
