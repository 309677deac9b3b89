// The quantisation setting as a zod shape, one definition for every place that takes it: the study's
// experiment kinds spread it into their params (src/study/params.ts) and `langquant quantize`, `nll
// --bits` and `perplexity --bits` parse their flags through it (src/cli/commands/quantize.ts).
// Default: INT4 asymmetric, group 128 (DESIGN.md §5).

import { z } from 'zod';
import { MAX_BITS, MIN_BITS, type QuantSpec } from './rtn.ts';

export const QuantParams = {
  bits: z.number().int().min(MIN_BITS).max(MAX_BITS).default(4),
  scheme: z.enum(['sym', 'asym']).default('asym'),
  groupSize: z.union([z.number().int().min(1), z.literal('channel')]).default(128),
};

export const QuantSpecSchema = z.strictObject(QuantParams);

/** The default setting: what the schema gives when nothing is set. */
export const DEFAULT_QUANT_SPEC: Readonly<QuantSpec> = Object.freeze(QuantSpecSchema.parse({}));
