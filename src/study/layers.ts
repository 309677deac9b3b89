// C-001 `layerSensitivity`: a block × language matrix of degradation from quantising one block at a
// time (all other blocks at full precision), the most sensitive block per language and per resource
// group, and the critical set handed to C-002: the `critical` blocks with the largest low-resource
// mean ΔBPB (the study's concern is what the low-resource languages lose).
// Each variant is a quantised copy of the model scored with the fast engine; the full-precision
// results are computed once and reused for every block (a reference cache shared by the variants).
// Reference: DESIGN.md §7 (C-001); metric names in ./metrics.ts (layerMetric, LAYER_SENSITIVITY_METRICS).

import { z } from 'zod';
import { quantizeModel } from '../quant/apply.ts';
import { DEFAULT_SCOPE } from '../quant/scope.ts';
import { spearman } from '../pipeline/stats.ts';
import { defaultConsistency, defineKind } from '../pipeline/kind.ts';
import { compareUnits, degradations, engineFor, EvalParams, meanOf, openModel, QuantParams, referenceCache, studyTexts, evaluationTexts } from './common.ts';
import { HIGH, LOW, layerMetric } from './metrics.ts';

/** Index of the largest value (first on ties). */
export function argmaxOf(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/** The `k` blocks with the largest values, ascending by index. */
export function topBlocks(values: readonly number[], k: number): number[] {
  return values
    .map((v, i) => ({ v, i }))
    .sort((a, b) => b.v - a.v || a.i - b.i)
    .slice(0, Math.max(1, Math.min(k, values.length)))
    .map((x) => x.i)
    .sort((a, b) => a - b);
}

export const layerSensitivity = defineKind({
  name: 'layerSensitivity',
  description: 'block × language degradation from quantising one block at a time',
  params: z.strictObject({
    ...EvalParams,
    ...QuantParams,
    /** Number of critical blocks named for C-002 (by low-resource mean ΔBPB). */
    critical: z.number().int().min(1).default(1),
  }),
  keyMetrics: ['num_layers', 'critical_count', 'profile_rank_corr'],
  models: (p) => [p.model],
  consistency: (reps) => defaultConsistency(reps, ['critical_layer'], 0.5),
  async run(ctx) {
    const p = ctx.params;
    const t = studyTexts(ctx, p.maxUnits, p.model);
    const m = await openModel(ctx, p.model, p);
    const L = m.model.config.numLayers;
    const cache = referenceCache();
    const w = { model: p.model };
    // perLayer[l].get(lang) = ΔBPB of lang with only block l quantised.
    const perLayer: Map<string, number>[] = [];
    try {
      const texts = evaluationTexts(ctx, t, m);
      for (let l = 0; l < L; l++) {
        const q = quantizeModel(m.model, { spec: { bits: p.bits, scheme: p.scheme, groupSize: p.groupSize }, scope: { ...DEFAULT_SCOPE, layers: [l] } });
        const qe = await engineFor(q.model, p.engine, (s) => ctx.log(s));
        try {
          // KL is not needed for the matrix; without it the cache holds only the cheap NLL/top-1 part.
          const c = await compareUnits({ reference: m.engine, treated: qe, texts, window: m.window, kl: false, cache, modelKey: m.key });
          const deg = degradations(c);
          const row = new Map<string, number>();
          for (const [lang, d] of deg) {
            row.set(lang, d.deltaBpb);
            ctx.metric(layerMetric(l, 'delta_bpb'), d.deltaBpb, { model: p.model, language: lang });
            ctx.metric(layerMetric(l, 'ppl_rel_increase'), d.pplRatioMinus1, { model: p.model, language: lang });
          }
          for (const [g, list] of [[HIGH, t.langs.high], [LOW, t.langs.low]] as const) {
            ctx.metric(layerMetric(l, 'delta_bpb'), meanOf(list.map((x) => row.get(x)!)), { model: p.model, language: g });
          }
          perLayer.push(row);
        } finally {
          await qe.dispose();
        }
        ctx.progress('blocks', l + 1, L);
      }
    } finally {
      await m.engine.dispose();
    }
    const profile = (langs: readonly string[]) => perLayer.map((row) => meanOf(langs.map((x) => row.get(x)!)));
    for (const lang of t.langs.all) ctx.metric('critical_layer', argmaxOf(perLayer.map((r) => r.get(lang)!)), { model: p.model, language: lang });
    const high = profile(t.langs.high);
    const low = profile(t.langs.low);
    ctx.metric('critical_layer', argmaxOf(high), { model: p.model, language: HIGH });
    ctx.metric('critical_layer', argmaxOf(low), { model: p.model, language: LOW });
    ctx.metric('high_critical_layer', argmaxOf(high), w);
    ctx.metric('low_critical_layer', argmaxOf(low), w);
    const crit = topBlocks(low, p.critical);
    for (let l = 0; l < L; l++) ctx.metric(layerMetric(l, 'critical'), crit.includes(l) ? 1 : 0, w);
    ctx.metric('critical_count', crit.length, w);
    ctx.metric('num_layers', L, w);
    // With fewer than 3 blocks a rank correlation says nothing; 1 keeps the key metric finite.
    ctx.metric('profile_rank_corr', L >= 3 ? spearman(high, low) : 1, w);
    ctx.log(`critical block(s) ${crit.join(', ')} of ${L}; most sensitive: high ${argmaxOf(high)}, low ${argmaxOf(low)}`);
  },
});
