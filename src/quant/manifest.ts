// The `quantization.json` manifest written next to a quantised checkpoint: what was done (method,
// bits, group size, scheme, scope, preservation, calibration), what it cost (bit accounting) and what
// it changed (per-tensor errors), and the tool's version. No timestamps: the same inputs give the
// same file. Reference: DESIGN.md §5, issue 4 "Output".

import { VERSION } from '../version.ts';
import type { PreservePlan, QuantizeResult } from './apply.ts';
import type { LayerCalibration } from './calibrated.ts';
import type { QuantSpec } from './rtn.ts';
import { describeScope, type QuantScope } from './scope.ts';

export const MANIFEST_FILE = 'quantization.json';
export const MANIFEST_FORMAT = 1;

export interface CalibrationInfo {
  /** 'text' (a file), 'languages' (the UDHR calibration split) or 'ids' (a token-id file). */
  readonly source: 'text' | 'languages' | 'ids';
  readonly file?: string;
  readonly languages?: readonly string[];
  readonly seed?: number;
  readonly tokens: number;
}

export interface Manifest {
  readonly tool: 'langquant';
  readonly version: string;
  readonly format: number;
  readonly sourceModel: string;
  readonly method: 'rtn' | 'rtn+preserve' | 'gptq' | 'awq';
  /** The method's own parameters (GPTQ: act-order, dampening, block; AWQ: α grid, clip). */
  readonly methodParams?: Readonly<Record<string, unknown>>;
  /** Per block linear: output error ‖XWᵀ − XQᵀ‖² on the calibration rows, RTN's on the same rows, output energy. */
  readonly calibrationError?: readonly LayerCalibration[];
  readonly bits: number;
  readonly groupSize: number | 'channel';
  readonly scheme: string;
  readonly scope: QuantScope & { readonly description: string };
  readonly preservation: null | {
    readonly criterion: string;
    readonly granularity: string;
    readonly budget: string;
    readonly share: number | null;
    readonly layerShares: Readonly<Record<string, number>> | null;
    readonly scaleFrom: 'remaining' | 'all';
  };
  readonly calibration: CalibrationInfo | null;
  readonly dtype: string;
  readonly bitAccounting: QuantizeResult['account'] & { readonly note: string };
  readonly tensors: readonly {
    readonly name: string;
    readonly replaced: readonly string[];
    readonly shape: readonly number[];
    readonly layout: string;
    readonly groupSize: number;
    readonly numGroups: number;
    readonly kept: number;
    readonly keptColumns: number;
    readonly maxAbsError: number;
    readonly meanAbsError: number;
    readonly relFrobeniusError: number;
    readonly bitsPerWeight: number;
  }[];
}

export function buildManifest(p: {
  sourceModel: string;
  spec: QuantSpec;
  scope: QuantScope;
  preserve: PreservePlan | null;
  calibration: CalibrationInfo | null;
  dtype: string;
  result: QuantizeResult;
  /** A calibrated method (GPTQ, AWQ) with its parameters and per-layer calibration errors. */
  calibrated?: {
    method: 'gptq' | 'awq';
    params: Readonly<Record<string, unknown>>;
    layers: readonly LayerCalibration[];
  };
}): Manifest {
  const { spec, scope, preserve, result } = p;
  const kept = result.account.kept > 0;
  const b = preserve?.budget;
  return {
    tool: 'langquant',
    version: VERSION,
    format: MANIFEST_FORMAT,
    sourceModel: p.sourceModel,
    method: p.calibrated ? p.calibrated.method : kept ? 'rtn+preserve' : 'rtn',
    ...(p.calibrated ? { methodParams: p.calibrated.params, calibrationError: p.calibrated.layers } : {}),
    bits: spec.bits,
    groupSize: spec.groupSize,
    scheme: spec.scheme,
    scope: { ...scope, description: describeScope(scope) },
    preservation:
      preserve && b
        ? {
            criterion: preserve.criterion,
            granularity: preserve.granularity,
            budget: b.kind,
            share: b.kind === 'map' ? null : b.share,
            layerShares:
              b.kind === 'map'
                ? {
                    ...Object.fromEntries([...b.shares].map(([l, s]) => [String(l), s])),
                    ...(b.rest !== undefined ? { rest: b.rest } : {}),
                  }
                : null,
            scaleFrom: preserve.scaleFrom ?? 'remaining',
          }
        : null,
    calibration: p.calibration,
    dtype: p.dtype,
    bitAccounting: {
      ...result.account,
      note: "bitsPerWeight counts, over the quantised scope: levels (bits each; kept columns leave the grid), 16-bit scales and zero points per group, 16-bit kept values and their positions (32-bit index per sparse weight, 32-bit index per kept column). modelBytes adds the other tensors at otherBits, each stored tensor once. GPTQ and AWQ store the same grid as RTN (levels, scales, zeros) and cost the same; AWQ's per-input-channel scales are folded into the operator before the linear (a norm's weight or the previous linear), so they add no bits to the grid; after an activation function such as GELU there is no weight to fold them into and deployments keep inDim 16-bit activation scales per such linear, which are not counted here.",
    },
    tensors: result.tensors.map((t) => ({
      name: t.name,
      replaced: t.replaced,
      shape: t.shape,
      layout: t.layout,
      groupSize: t.groupSize,
      numGroups: t.numGroups,
      kept: t.kept,
      keptColumns: t.keptColumns,
      maxAbsError: t.error.maxAbs,
      meanAbsError: t.error.meanAbs,
      relFrobeniusError: t.error.relFrobenius,
      bitsPerWeight: t.bits.bitsPerWeight,
    })),
  };
}
