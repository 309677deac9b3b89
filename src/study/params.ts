// The parameters the study's experiment kinds share (zod shapes spread into each kind's params
// schema): evaluation settings, the selection split, and the quantisation setting — the same schema
// `langquant quantize` parses its flags through. Reference: DESIGN.md §5.

import { z } from 'zod';
import type { EngineName } from '../engine/types.ts';
import type { BosMode } from '../eval/bos.ts';

// ---------------------------------------------------------------- parameters shared by the kinds

/** Evaluation settings every measuring kind accepts. */
export const EvalParams = {
  /** The model alias measured. */
  model: z.string().default('base'),
  /** Evaluation units per language (a subset of the evaluation split drawn with the replicate seed); default all. */
  maxUnits: z.number().int().min(2).optional(),
  /** Tokens per window (default: the model's positions, at most 1024) and stride (default half). */
  context: z.number().int().min(2).optional(),
  stride: z.number().int().min(1).optional(),
  engine: z.enum(['auto', 'ort', 'reference']).default('auto'),
  /** Bootstrap resamples for intervals. */
  resamples: z.number().int().min(50).max(100000).default(1000),
  /** Interval method over units: BCa (default; with Hesterberg's small-sample widening) or the percentile interval. */
  interval: z.enum(['bca', 'percentile']).default('bca'),
  /** Compute KL divergence (needs full log-probabilities of both models). */
  kl: z.boolean().default(true),
  /** A BOS token before each unit: as the model's tokenizer files say (auto), always, or never (src/eval/bos.ts). */
  bos: z.enum(['auto', 'always', 'never']).default('auto'),
};

/** Also score the calibration units (selection split), for a later experiment's choice (B-004). */
export const SelectionParams = {
  selection: z.boolean().default(true),
};

/** The quantisation setting (DESIGN.md §5; default INT4 asymmetric, group 128, blocks only): src/quant/params.ts. */
export { QuantParams } from '../quant/params.ts';

export interface EvalSettings {
  model: string;
  maxUnits?: number;
  context?: number;
  stride?: number;
  engine: EngineName;
  resamples: number;
  kl: boolean;
  bos: BosMode;
}

export interface QuantSettings {
  bits: number;
  scheme: 'sym' | 'asym';
  groupSize: number | 'channel';
}
