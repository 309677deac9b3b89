// B-001/2/3 `preserve`: keep a share of the block linears' weights in full precision (criterion
// and granularity as parameters; default activation-aware, single weights, one global budget,
// calibration on all study languages) and quantise the rest; records the effective bits per weight
// (everything counted), the per-language degradation and the disparity, as do.
// Reference: DESIGN.md §5 (preservation, honest size); metric names in ./metrics.ts.

import { z } from 'zod';
import { quantizeModel } from '../quant/apply.ts';
import { needsCalibration } from '../quant/preserve.ts';
import { defaultConsistency, defineKind } from '../pipeline/kind.ts';
import { CalibrationParams, calibrationLanguages, calibrationStats } from './calibration.ts';
import { EvalParams, QuantParams, SelectionParams } from './params.ts';
import { studyTexts } from './texts.ts';
import { compareTreated, openModel } from './compare.ts';
import { recordDegradation, recordDisparity, recordSelection } from './record.ts';
import { writeUnits } from './artifacts.ts';
import { deriveSeed } from '../util/rng.ts';

export const PreserveParams = {
  /** Share of the quantised weights kept in full precision, 0–1 (0.05 = 5 %). */
  share: z.number().min(0).max(1),
  /** `random`: the control arm — the same number of weights, chosen by the replicate's seed alone. */
  criterion: z.enum(['magnitude', 'activation', 'hessian', 'random']).default('activation'),
  granularity: z.enum(['weight', 'column']).default('weight'),
  /** One budget over all block linears, or the same share in every layer. */
  budget: z.enum(['global', 'layer']).default('global'),
  ...CalibrationParams,
};

export const preserve = defineKind({
  name: 'preserve',
  description: 'quantisation with a share of salient weights kept in full precision',
  params: z.strictObject({ ...EvalParams, ...QuantParams, ...PreserveParams, ...SelectionParams }),
  // Scoring units through the run's score cache is most of its time: a helper lane saves it.
  helpers: true,
  keyMetrics: ['delta_bpb', 'bits_per_weight', 'gap_dbpb', 'ratio_dbpb_unstable'],
  models: (p) => [p.model],
  consistency: (reps) => defaultConsistency(reps, ['delta_bpb'], 0.5),
  async run(ctx) {
    const p = ctx.params;
    const t = studyTexts(ctx, p.maxUnits, p.model);
    const m = await openModel(ctx, p.model, p);
    const stats = needsCalibration(p.criterion)
      ? await calibrationStats(ctx, m, t, calibrationLanguages(t, p.calibration), p.calibrationTokens)
      : null;
    const q = quantizeModel(m.model, {
      spec: { bits: p.bits, scheme: p.scheme, groupSize: p.groupSize },
      preserve: {
        criterion: p.criterion,
        granularity: p.granularity,
        budget: { kind: p.budget, share: p.share },
        stats,
        seed: deriveSeed(ctx.seed, 'preserve-random'),
      },
    });
    const { evaluation: c, selection } = await compareTreated(ctx, t, m, q.model, p);
    recordDegradation(ctx, p.model, c, t.langs, { seed: ctx.seed, resamples: p.resamples, method: p.interval });
    if (selection) recordSelection(ctx, p.model, selection, t.langs);
    writeUnits(ctx, c);
    recordDisparity(ctx, p.model, c, t.langs, { seed: ctx.seed, resamples: p.resamples, method: p.interval });
    ctx.metric('bits_per_weight', q.account.bitsPerWeight, { model: p.model });
    ctx.metric('preserved_share', q.account.kept / q.account.weights, { model: p.model });
    ctx.log(
      `${p.model}: ${(p.share * 100).toFixed(1)} % ${p.criterion}/${p.granularity} kept, ${q.account.bitsPerWeight.toFixed(3)} bits/weight`,
    );
  },
});
