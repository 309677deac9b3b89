// The calibrated quantisation methods on the command line: `--method rtn|gptq|awq` with `--act-order`
// (GPTQ) and `--awq-clip` (AWQ), for `quantize` and for the nll / perplexity transform. GPTQ and AWQ
// need calibration text (the same three sources as preservation: --calibration-text,
// --calibration-languages, --calibration-ids), cut into windows of at most 512 tokens, at most
// --calibration-tokens in all (src/quant/calibrate.ts). Reference: src/quant/calibrated.ts.

import { ConfigError } from '../../errors.ts';
import type { Model } from '../../model/model.ts';
import { calibrationWindows, DEFAULT_CALIBRATION_TOKENS } from '../../quant/calibrate.ts';
import {
  METHODS,
  quantizeModelCalibratedFast,
  type CalibratedMethod,
  type CalibratedResult,
  type Method,
} from '../../quant/calibrated.ts';
import { DEFAULT_BLOCK_SIZE, DEFAULT_PERCDAMP } from '../../quant/gptq.ts';
import { AWQ_GRID, CLIP_RATIOS } from '../../quant/awq.ts';
import type { QuantSpec } from '../../quant/rtn.ts';
import type { QuantScope } from '../../quant/scope.ts';

export function parseMethod(v: string): Method {
  if (!(METHODS as readonly string[]).includes(v))
    throw new ConfigError(`--method ${v} is not a quantisation method; use ${METHODS.join(', ')}`);
  return v as Method;
}

export interface MethodFlags {
  method?: string;
  actOrder?: boolean;
  awqClip?: boolean;
}

/** The parameters a manifest records for a calibrated method. */
export function methodParams(method: CalibratedMethod, f: MethodFlags): Record<string, unknown> {
  return method === 'gptq'
    ? {
        actOrder: Boolean(f.actOrder),
        staticGroups: Boolean(f.actOrder),
        percDamp: DEFAULT_PERCDAMP,
        blockSize: DEFAULT_BLOCK_SIZE,
        hessian: 'H = (2/N)·Σ x xᵀ, float64, sequential over blocks',
      }
    : {
        alphaGrid: AWQ_GRID,
        alphas: `k/${AWQ_GRID}, k = 0..${AWQ_GRID - 1}`,
        clip: Boolean(f.awqClip),
        clipRatios: f.awqClip ? CLIP_RATIOS : null,
        groups: 'linears sharing an input (q/k/v, gate/up)',
      };
}

/** Refuses method-specific flags given with another method. */
export function checkMethodFlags(method: Method, f: MethodFlags): void {
  if (f.actOrder && method !== 'gptq')
    throw new ConfigError('--act-order applies to --method gptq only; drop it or use --method gptq');
  if (f.awqClip && method !== 'awq')
    throw new ConfigError('--awq-clip applies to --method awq only; drop it or use --method awq');
}

/**
 * Runs GPTQ or AWQ over calibration token sequences (windows of ≤ 512 tokens, ≤ maxTokens in all), the
 * forward passes on onnxruntime when it loads (else the reference forward).
 */
export function quantizeCalibratedCli(
  model: Model,
  method: CalibratedMethod,
  spec: QuantSpec,
  sequences: readonly (readonly number[] | Int32Array)[],
  f: MethodFlags & { maxTokens?: number; scope?: QuantScope; log?: (s: string) => void },
): Promise<CalibratedResult> {
  const context = Math.min(512, model.config.maxPositions ?? 512);
  const windows = calibrationWindows(sequences, context, f.maxTokens ?? DEFAULT_CALIBRATION_TOKENS);
  const L = model.config.numLayers;
  return quantizeModelCalibratedFast(model, {
    method,
    spec,
    scope: f.scope,
    windows,
    gptq: { actOrder: Boolean(f.actOrder) },
    awq: { clip: Boolean(f.awqClip) },
    onBlock: f.log ? (l) => f.log!(`${method}: block ${l + 1}/${L} done`) : undefined,
  });
}
