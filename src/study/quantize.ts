// A-002 `quantize`: one quantisation setting (default INT4, asymmetric, group 128, block linears
// only) and its degradation per language against the full-precision model on the same text and
// windows — ΔBPB with a bootstrap interval over units, relative perplexity increase, ΔNLL, KL
// divergence percentiles and top-1 agreement — plus the effective bits per weight. Writes the
// per-unit totals (units.json) so that A-003 computes the disparity without rerunning the models.
// Reference: DESIGN.md §4–§5; metric names in ./metrics.ts (DEGRADATION_METRICS).

import { z } from 'zod';
import { quantizeModel } from '../quant/apply.ts';
import { defaultConsistency, defineKind } from '../pipeline/kind.ts';
import { EvalParams, QuantParams, SelectionParams } from './params.ts';
import { studyTexts } from './texts.ts';
import { compareTreated, openModel } from './compare.ts';
import { recordDegradation, recordSelection } from './record.ts';
import { writeUnits } from './artifacts.ts';

export const quantize = defineKind({
  name: 'quantize',
  description: 'degradation per language under round-to-nearest quantisation of the block linears',
  params: z.strictObject({ ...EvalParams, ...QuantParams, ...SelectionParams }),
  // Scoring units through the run's score cache is most of its time: a helper lane saves it.
  helpers: true,
  keyMetrics: ['delta_bpb', 'ppl_rel_increase', 'kl_mean', 'top1_agree', 'bits_per_weight'],
  models: (p) => [p.model],
  // Same sign of the mean ΔBPB in every replicate, and the per-language pattern rank-correlates
  // (ρ ≥ 0.5: replicates score different units, and small degradations are noisy).
  consistency: (reps) => defaultConsistency(reps, ['delta_bpb'], 0.5),
  async run(ctx) {
    const p = ctx.params;
    const t = studyTexts(ctx, p.maxUnits, p.model);
    const m = await openModel(ctx, p.model, p);
    const q = quantizeModel(m.model, { spec: { bits: p.bits, scheme: p.scheme, groupSize: p.groupSize } });
    const { evaluation: c, selection } = await compareTreated(ctx, t, m, q.model, p);
    recordDegradation(ctx, p.model, c, t.langs, { seed: ctx.seed, resamples: p.resamples, method: p.interval });
    if (selection) recordSelection(ctx, p.model, selection, t.langs);
    ctx.metric('bits_per_weight', q.account.bitsPerWeight, { model: p.model });
    ctx.metric('preserved_share', 0, { model: p.model });
    writeUnits(ctx, c);
    ctx.log(
      `${p.model}: INT${p.bits} ${p.scheme} g${p.groupSize}, ${q.account.bitsPerWeight.toFixed(3)} bits/weight, ${t.evaluation.length} units per language`,
    );
  },
});
