// C-001 `layerSensitivity`: a block × language matrix of degradation from quantising one block at a
// time (all other blocks at full precision), with a bootstrap interval for every cell and for each
// group mean, the most sensitive block per language and per resource group, and the critical set
// handed to C-002: the `critical` blocks with the largest low-resource mean ΔBPB.
// No double dipping (issue 12): the critical set is chosen on the selection (calibration) units, and
// the evaluation units — on which C-002 then tests preservation of those blocks — only report the
// matrix. "Critical" is a claim with uncertainty: `critical_separated` is 1 only when the last
// critical block's low-resource ΔBPB lies above the next-ranked block's on the selection units
// (paired bootstrap interval of their difference above 0).
// Every block is quantised once; the variant "only block l quantised" starts from the full-precision
// state entering block l, computed once per window for all variants (quant/layers.ts layerSweep;
// on onnxruntime, a chain of one-block graphs). The full-precision results are computed once and
// reused for every block (a reference cache shared by the variants), or come from the run folder's
// score cache, which also keeps every variant's per-unit scores.
// Reference: DESIGN.md §7 (C-001); metric names in ./metrics.ts (layerMetric, LAYER_SENSITIVITY_METRICS).

import { z } from 'zod';
import { bootstrap } from '../eval/bootstrap.ts';
import { quantizeModel } from '../quant/apply.ts';
import { layerPlans, layerSweep, mixedModel, type LayerSweep } from '../quant/layers.ts';
import { DEFAULT_SCOPE } from '../quant/scope.ts';
import { spearman } from '../pipeline/stats.ts';
import { defaultConsistency, defineKind } from '../pipeline/kind.ts';
import { deriveSeed } from '../util/rng.ts';
import { EvalParams, QuantParams } from './params.ts';
import { evaluationTexts, selectionTexts, studyTexts, type UnitText } from './texts.ts';
import {
  compareUnitsEach,
  deltaBpbOf,
  openModel,
  pairedDifference,
  referenceCache,
  visitOf,
  type Comparisons,
} from './compare.ts';
import { degradations, disparity, meanOf } from './record.ts';
import { HIGH, LOW, layerMetric } from './metrics.ts';
import { registerEngine, scoredModelOf, treatedModelKey } from './score-cache.ts';

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

/** The block ranked just below the critical set (largest value among the others), or -1. */
export function nextBlock(values: readonly number[], critical: readonly number[]): number {
  let best = -1;
  for (let i = 0; i < values.length; i++) if (!critical.includes(i) && (best < 0 || values[i] > values[best])) best = i;
  return best;
}

export const layerSensitivity = defineKind({
  name: 'layerSensitivity',
  description: 'block × language degradation from quantising one block at a time',
  params: z.strictObject({
    ...EvalParams,
    ...QuantParams,
    /** Number of critical blocks named for C-002 (by low-resource mean ΔBPB on the selection units). */
    critical: z.number().int().min(1).default(1),
  }),
  // Scoring units through the run's score cache is most of its time: a helper lane saves it.
  helpers: true,
  keyMetrics: ['num_layers', 'critical_count', 'profile_rank_corr', 'critical_separated'],
  models: (p) => [p.model],
  consistency: (reps) => defaultConsistency(reps, ['critical_layer'], 0.5),
  async run(ctx) {
    const p = ctx.params;
    const t = studyTexts(ctx, p.maxUnits, p.model);
    const m = await openModel(ctx, p.model, p);
    const L = m.model.config.numLayers;
    const cache = referenceCache();
    const w = { model: p.model };
    const o = { seed: ctx.seed, resamples: p.resamples, method: p.interval };
    // evaluation[l], sel[l]: the comparisons with only block l quantised on the evaluation units (the
    // matrix) and on the selection units (the choice of the critical set and its separation test).
    let evaluation: Comparisons[];
    let sel: Comparisons[];
    let sweep: LayerSweep | undefined;
    try {
      const texts = evaluationTexts(ctx, t, m);
      const selTexts = selectionTexts(t, m);
      // RTN quantises each tensor on its own: every block quantised once gives each variant's block.
      const spec = { bits: p.bits, scheme: p.scheme, groupSize: p.groupSize };
      const q = quantizeModel(m.model, { spec, scope: { ...DEFAULT_SCOPE, layers: null } });
      const plans = layerPlans(L, 'one');
      const s = (sweep = await layerSweep(m.model, q.model, plans, { engine: p.engine }));
      // Through the run folder's score cache: the full-precision side of each unit comes from A-001
      // (or whoever scored it first), and each variant's scores are kept, so a rerun scores nothing.
      const scored = scoredModelOf(m.engine);
      if (scored) {
        for (const [l, e] of s.engines.entries()) {
          const variant = mixedModel(m.model, q.model, plans[l].quantised);
          registerEngine(e, { ...scored, key: () => treatedModelKey(m.key, variant) });
        }
      }
      // Every variant of a unit before the next unit (compareUnitsEach): a unit's twelve variants come
      // from one sweep of its windows, and a helper lane (KindContext.lane 1), which goes the other way,
      // meets this replicate once in the middle of each unit set.
      // KL is not needed for the matrix; without it the cache holds only the cheap NLL/top-1 part.
      const each = (x: Map<string, UnitText[]>, label: string) =>
        compareUnitsEach(
          {
            reference: m.engine,
            treated: s.engines,
            texts: x,
            window: m.window,
            kl: false,
            cache,
            modelKey: m.key,
            ...visitOf(ctx),
          },
          (d, n) => ctx.progress(label, d, n),
        );
      evaluation = await each(texts, 'languages');
      sel = await each(selTexts, 'languages (selection units)');
    } finally {
      await sweep?.dispose();
      await m.engine.dispose();
    }
    // perLayer[l].get(lang) = ΔBPB of lang with only block l quantised (evaluation units).
    const perLayer: Map<string, number>[] = [];
    for (let l = 0; l < L; l++) {
      const c = evaluation[l];
      const deg = degradations(c);
      const row = new Map<string, number>();
      for (const [lang, d] of deg) {
        row.set(lang, d.deltaBpb);
        const where = { model: p.model, language: lang };
        const ci = bootstrap([...c.get(lang)!.values()], deltaBpbOf, {
          seed: deriveSeed(ctx.seed, 'layer', l, lang),
          resamples: p.resamples,
          method: p.interval,
        });
        ctx.metric(layerMetric(l, 'delta_bpb'), d.deltaBpb, where);
        ctx.metric(layerMetric(l, 'delta_bpb_lo'), ci.lo, where);
        ctx.metric(layerMetric(l, 'delta_bpb_hi'), ci.hi, where);
        ctx.metric(layerMetric(l, 'ppl_rel_increase'), d.pplRatioMinus1, where);
      }
      // Group means with paired intervals over units (the same draws for every language of the group).
      const g = disparity(c, t.langs, 'deltaBpb', {
        seed: deriveSeed(ctx.seed, 'layer-groups', l),
        resamples: p.resamples,
        method: p.interval,
      });
      for (const [name, mean, lo, hi] of [
        [HIGH, g.highMean, g.highLo, g.highHi],
        [LOW, g.lowMean, g.lowLo, g.lowHi],
      ] as const) {
        ctx.metric(layerMetric(l, 'delta_bpb'), mean, { model: p.model, language: name });
        ctx.metric(layerMetric(l, 'delta_bpb_lo'), lo, { model: p.model, language: name });
        ctx.metric(layerMetric(l, 'delta_bpb_hi'), hi, { model: p.model, language: name });
      }
      const sd = degradations(sel[l]);
      ctx.metric(layerMetric(l, 'sel_delta_bpb'), meanOf(t.langs.low.map((x) => sd.get(x)!.deltaBpb)), {
        model: p.model,
        language: LOW,
      });
      ctx.metric(layerMetric(l, 'sel_delta_bpb'), meanOf(t.langs.high.map((x) => sd.get(x)!.deltaBpb)), {
        model: p.model,
        language: HIGH,
      });
      perLayer.push(row);
    }
    const profile = (langs: readonly string[]) => perLayer.map((row) => meanOf(langs.map((x) => row.get(x)!)));
    for (const lang of t.langs.all)
      ctx.metric('critical_layer', argmaxOf(perLayer.map((r) => r.get(lang)!)), { model: p.model, language: lang });
    const high = profile(t.langs.high);
    const low = profile(t.langs.low);
    ctx.metric('critical_layer', argmaxOf(high), { model: p.model, language: HIGH });
    ctx.metric('critical_layer', argmaxOf(low), { model: p.model, language: LOW });
    ctx.metric('high_critical_layer', argmaxOf(high), w);
    ctx.metric('low_critical_layer', argmaxOf(low), w);
    // The critical set, chosen on the selection units.
    const selLow = sel.map((c) => {
      const d = degradations(c);
      return meanOf(t.langs.low.map((x) => d.get(x)!.deltaBpb));
    });
    const crit = topBlocks(selLow, p.critical);
    for (let l = 0; l < L; l++) ctx.metric(layerMetric(l, 'critical'), crit.includes(l) ? 1 : 0, w);
    ctx.metric('critical_count', crit.length, w);
    // Separation: the weakest critical block against the best of the rest, paired over selection units.
    const weakest = crit.reduce((a, b) => (selLow[b] < selLow[a] ? b : a), crit[0]);
    const next = nextBlock(selLow, crit);
    if (next >= 0) {
      const gap = pairedDifference(sel[weakest], sel[next], t.langs.low, {
        seed: deriveSeed(o.seed, 'critical-gap'),
        resamples: o.resamples,
        method: o.method,
      });
      ctx.metric('critical_gap', gap.estimate, w);
      ctx.metric('critical_gap_lo', gap.lo, w);
      ctx.metric('critical_gap_hi', gap.hi, w);
      ctx.metric('critical_separated', gap.lo > 0 ? 1 : 0, w);
      ctx.metric('critical_next_layer', next, w);
    } else {
      ctx.metric('critical_separated', 0, w); // every block is critical: nothing to separate from
    }
    ctx.metric('num_layers', L, w);
    // With fewer than 3 blocks a rank correlation says nothing; 1 keeps the key metric finite.
    ctx.metric('profile_rank_corr', L >= 3 ? spearman(high, low) : 1, w);
    ctx.log(
      `critical block(s) ${crit.join(', ')} of ${L} (chosen on ${t.calibration.length} selection units); most sensitive on evaluation units: high ${argmaxOf(high)}, low ${argmaxOf(low)}`,
    );
  },
});
