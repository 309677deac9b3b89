// A-003 `disparity`: from A-002's per-unit results, the low/high-resource ratio of mean degradation
// for ΔBPB (primary) and for the relative perplexity increase (secondary), each with a paired
// bootstrap interval over aligned units, the group means, the absolute degradation per language and
// the perplexity variance across languages at full precision and quantised (tertiary).
// A ratio whose high-resource mean is ≤ 0 or whose interval contains 0 is flagged unstable.
// Reference: DESIGN.md §4; src/eval/bootstrap.ts (disparityRatio); metric names in ./metrics.ts.

import { z } from 'zod';
import { measures, sumTotals, variance } from '../eval/metrics.ts';
import { defaultConsistency, defineKind } from '../pipeline/kind.ts';
import { languagesFor } from './texts.ts';
import { degradations, recordDisparity } from './record.ts';
import { comparisonsFromJson, UNITS_FILE } from './artifacts.ts';
import { depArtifactJson, depId } from './deps.ts';

export const disparity = defineKind({
  name: 'disparity',
  description: 'low/high-resource disparity ratio of degradation, with bootstrap intervals',
  params: z.strictObject({
    model: z.string().default('base'),
    /** The quantize experiment to read (default: the first dependency). */
    from: z.string().optional(),
    resamples: z.number().int().min(50).max(100000).default(1000),
    interval: z.enum(['bca', 'percentile']).default('bca'),
  }),
  keyMetrics: ['gap_dbpb', 'ratio_dbpb_unstable', 'ratio_ppl_unstable'],
  // The model alias is resolved (not loaded) so that its training.json can name the languages it never saw.
  models: (p) => [p.model],
  // Replicates agree when the low-minus-high gap has the same sign.
  consistency: (reps) => defaultConsistency(reps, ['gap_dbpb']),
  run(ctx) {
    const p = ctx.params;
    const langs = languagesFor(ctx, p.model);
    const src = depId(ctx, p.from, 'a quantize experiment');
    const c = comparisonsFromJson(depArtifactJson(ctx, src, UNITS_FILE));
    for (const l of langs.all)
      if (!c.has(l)) throw new Error(`${src} has no results for ${l}; rerun it with the same language groups`);
    const { dbpb, ppl } = recordDisparity(ctx, p.model, c, langs, {
      seed: ctx.seed,
      resamples: p.resamples,
      method: p.interval,
    });
    const deg = degradations(c);
    for (const [lang, d] of deg) {
      ctx.metric('delta_bpb', d.deltaBpb, { model: p.model, language: lang });
      ctx.metric('ppl_rel_increase', d.pplRatioMinus1, { model: p.model, language: lang });
    }
    const pplFp = [...c.values()].map((u) => measures(sumTotals([...u.values()].map((x) => x.fp))).tokenPerplexity);
    const pplQ = [...c.values()].map((u) => measures(sumTotals([...u.values()].map((x) => x.q))).tokenPerplexity);
    ctx.metric('ppl_variance_fp', variance(pplFp), { model: p.model });
    ctx.metric('ppl_variance_q', variance(pplQ), { model: p.model });
    const f = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : String(x));
    ctx.log(
      `ΔBPB ratio ${f(dbpb.ratio)} [${f(dbpb.lo)}, ${f(dbpb.hi)}]${dbpb.unstable ? ' (unstable)' : ''}; PPL ratio ${f(ppl.ratio)} [${f(ppl.lo)}, ${f(ppl.hi)}]${ppl.unstable ? ' (unstable)' : ''}`,
    );
  },
});
