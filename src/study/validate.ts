// D-001/D-002 `validate`: phase A on another model alias (opt, pythia) in one experiment — baseline,
// degradation under the same quantisation and disparity ratio — plus the Spearman rank correlation
// of per-language ΔBPB with the base model's (from A-002) and whether this model's ΔBPB disparity
// interval excludes 1 (stable and lo > 1).
// Reference: DESIGN.md §7 (D-001/D-002); metric names in ./metrics.ts (VALIDATION_METRICS).

import { z } from 'zod';
import { quantizeModel } from '../quant/apply.ts';
import { spearman } from '../pipeline/stats.ts';
import { defaultConsistency, defineKind } from '../pipeline/kind.ts';
import { ConfigError, DataError } from '../errors.ts';
import { spearmanInterval } from '../eval/language-level.ts';
import { deriveSeed } from '../util/rng.ts';
import { EvalParams, QuantParams } from './params.ts';
import { studyTexts } from './texts.ts';
import { compareTreated, openModel } from './compare.ts';
import { recordBaseline, recordDegradation, recordDisparity } from './record.ts';
import { depMetrics } from './deps.ts';

export const validate = defineKind({
  name: 'validate',
  description: 'phase A on another model, with the rank correlation of per-language degradation against the base model',
  params: z.strictObject({
    ...EvalParams,
    ...QuantParams,
    model: z.string(),
    /** The base model's quantize experiment and alias to compare with. */
    reference: z.string().default('A-002'),
    referenceModel: z.string().default('base'),
    /** The base model's disparity experiment (optional; for base_ratio_dbpb). */
    referenceDisparity: z.string().optional(),
  }),
  // Scoring units through the run's score cache is most of its time: a helper lane saves it.
  helpers: true,
  keyMetrics: ['bpb', 'delta_bpb', 'rank_corr_delta_bpb', 'ratio_dbpb_unstable', 'ratio_excludes_1'],
  models: (p) => [p.model],
  consistency: (reps) => defaultConsistency(reps, ['delta_bpb'], 0.5),
  async run(ctx) {
    const p = ctx.params;
    if (!ctx.deps.ids.includes(p.reference))
      throw new DataError(
        `${ctx.experiment.id} compares with ${p.reference}, which is not among its dependsOn; add it there or set params.reference`,
      );
    const t = studyTexts(ctx, p.maxUnits, p.model);
    // Checked before any scoring: a rank correlation over fewer than 3 languages says nothing.
    if (t.langs.all.length < 3) {
      throw new ConfigError(
        `${ctx.experiment.id} ranks languages by ΔBPB and needs at least 3 study languages (the corpus gives ` +
          `${t.langs.all.length}: ${t.langs.all.join(', ')}); add languages to the corpus groups or leave ${ctx.experiment.id} out`,
      );
    }
    const m = await openModel(ctx, p.model, p);
    const q = quantizeModel(m.model, { spec: { bits: p.bits, scheme: p.scheme, groupSize: p.groupSize } });
    const { evaluation: c } = await compareTreated(ctx, t, m, q.model, p);
    const w = { model: p.model };
    // The comparison's full-precision totals are the baseline of this model on the same units.
    recordBaseline(
      ctx,
      p.model,
      new Map([...c].map(([lang, units]) => [lang, new Map([...units].map(([id, u]) => [id, u.fp]))])),
      t.langs,
    );
    const deg = recordDegradation(ctx, p.model, c, t.langs, {
      seed: ctx.seed,
      resamples: p.resamples,
      method: p.interval,
    });
    const { dbpb } = recordDisparity(ctx, p.model, c, t.langs, {
      seed: ctx.seed,
      resamples: p.resamples,
      method: p.interval,
    });
    ctx.metric('bits_per_weight', q.account.bitsPerWeight, w);
    ctx.metric('preserved_share', 0, w);
    const base = new Map(
      depMetrics(ctx, p.reference, { metric: 'delta_bpb', model: p.referenceModel }).map((r) => [r.language, r.value]),
    );
    const shared = t.langs.all.filter((l) => base.has(l));
    if (shared.length < 3) {
      throw new DataError(
        `${p.reference} has per-language ΔBPB for only ${shared.length} of the ${t.langs.all.length} study languages; ` +
          `rerun it with the same language groups`,
      );
    }
    const rho = spearman(
      shared.map((l) => deg.get(l)!.deltaBpb),
      shared.map((l) => base.get(l)!),
    );
    ctx.metric('rank_corr_delta_bpb', rho, w);
    // ρ with its interval, resampling languages (the unit at which the pattern is claimed).
    const ri = spearmanInterval(
      shared.map((l) => deg.get(l)!.deltaBpb),
      shared.map((l) => base.get(l)!),
      { seed: deriveSeed(ctx.seed, 'rank-corr'), resamples: p.resamples },
    );
    ctx.metric('rank_corr_delta_bpb_lo', ri.lo, w);
    ctx.metric('rank_corr_delta_bpb_hi', ri.hi, w);
    ctx.metric('ratio_excludes_1', !dbpb.unstable && dbpb.lo > 1 ? 1 : 0, w);
    if (p.referenceDisparity && ctx.deps.ids.includes(p.referenceDisparity)) {
      const r = depMetrics(ctx, p.referenceDisparity, { metric: 'ratio_dbpb', model: p.referenceModel });
      if (r.length) ctx.metric('base_ratio_dbpb', r[0].value, w);
    }
    ctx.log(
      `${p.model}: ΔBPB ratio ${dbpb.ratio.toFixed(2)} [${dbpb.lo.toFixed(2)}, ${dbpb.hi.toFixed(2)}]${dbpb.unstable ? ' unstable' : ''}; ρ with ${p.referenceModel} ${rho.toFixed(2)} over ${shared.length} languages`,
    );
  },
});
