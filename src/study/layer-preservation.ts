// C-002 `layerPreservation`: preservation concentrated on the critical blocks named by C-001 against
// uniform preservation at the same effective bits per weight. The layer-specific plan keeps as many
// weights as `share` of all blocks would (share × L block-equivalents; the blocks of a decoder stack
// have equal size), spread evenly over the k critical blocks; no block keeps more than
// MAX_BLOCK_SHARE (99 %) of its weights, because the quantisation engine refuses a share of 1
// (keeping a whole block is not quantising it), and what that cap leaves over goes to the next most
// sensitive blocks by C-001's low-resource ΔBPB (layerPlanShares). The uniform plan keeps the same
// share in EVERY block (`budget: layer`), the share the layer plan actually kept overall, so both cost
// the same bits (issue 12: a global top-k by saliency can pile into one block and is not uniform); a
// third arm, `global`, keeps that many weights by one global top-k by saliency. Kept counts and shares
// of every arm are recorded. Per-language degradation and disparity of both, and the
// difference of the low-resource mean ΔBPB (layer − uniform) with a paired bootstrap over aligned
// units: significant when its 95 % interval excludes 0.
// Reference: DESIGN.md §5 (per-layer budgets), §7 (C-002); metric names in ./metrics.ts.

import { z } from 'zod';
import { quantizeModel } from '../quant/apply.ts';
import { needsCalibration, type Budget } from '../quant/preserve.ts';
import { defaultConsistency, defineKind } from '../pipeline/kind.ts';
import { ConfigError, DataError } from '../errors.ts';
import { deriveSeed } from '../util/rng.ts';
import { CalibrationParams, calibrationLanguages, calibrationStats } from './calibration.ts';
import { EvalParams, QuantParams } from './params.ts';
import { evaluationTexts, studyTexts } from './texts.ts';
import {
  compareUnits,
  engineFor,
  openModel,
  pairedDifference,
  referenceCache,
  visitOf,
  type Comparisons,
} from './compare.ts';
import { degradations, disparity, meanOf } from './record.ts';
import { depId, depMetrics } from './deps.ts';
import { HIGH, LOW, parseLayerMetric } from './metrics.ts';

/** The most of one block's weights the layer-specific plan keeps (the engine refuses a share ≥ 1). */
export const MAX_BLOCK_SHARE = 0.99;

export interface LayerPlan {
  /** Block index → share of its weights kept in full precision (every share ≤ the cap, so < 1). */
  shares: Map<number, number>;
  /** Non-critical blocks that received what the cap left over, most sensitive first. */
  spill: number[];
}

/**
 * The layer-specific plan: share × numLayers block-equivalents of kept weights, spread evenly over
 * the critical blocks, each capped at `cap`; the excess goes, block by block (again up to `cap`
 * each), to the other blocks in `ranking` order (most sensitive first). The total is always kept in
 * full, so the plan matches the uniform one in bits; a share above `cap` cannot be planned.
 */
export function layerPlanShares(
  share: number,
  numLayers: number,
  critical: readonly number[],
  ranking: readonly number[],
  cap = MAX_BLOCK_SHARE,
): LayerPlan {
  if (!(share > 0) || share > cap)
    throw new ConfigError(
      `the preserved share of C-002 must be in (0, ${cap}] (no block can keep more than ${Math.round(cap * 1000) / 10} % of its weights), got ${share}; lower params.share`,
    );
  if (critical.length === 0)
    throw new DataError('no critical block to preserve; rerun the layer-sensitivity experiment');
  const shares = new Map<number, number>();
  const total = share * numLayers;
  const even = Math.min(cap, total / critical.length);
  for (const l of critical) shares.set(l, even);
  let excess = total - even * critical.length;
  const spill: number[] = [];
  // Float noise (e.g. 0.2·5 − 0.99 − 0.01) must not spill a share of 1e-16 onto another block.
  for (const l of ranking) {
    if (excess <= 1e-12) break;
    if (shares.has(l)) continue;
    const give = Math.min(cap, excess);
    shares.set(l, give);
    spill.push(l);
    excess -= give;
  }
  return { shares, spill };
}

/**
 * The budgets of C-002's comparison arms at the share the layer-specific plan actually kept: `uniform`
 * keeps that share in every block (the baseline a referee accepts as uniform), `global` keeps as many
 * weights by one top-k over all blocks (which can pile into one block).
 */
export function comparisonBudgets(keptShare: number): { uniform: Budget; global: Budget } {
  return { uniform: { kind: 'layer', share: keptShare }, global: { kind: 'global', share: keptShare } };
}

/** Blocks ordered by a sensitivity value, largest first (missing values last, ties to the lower index). */
export function rankBlocks(values: readonly number[]): number[] {
  const key = (v: number) => (Number.isNaN(v) ? -Infinity : v);
  return values
    .map((v, i) => ({ v: key(v), i }))
    .sort((a, b) => b.v - a.v || a.i - b.i)
    .map((x) => x.i);
}

/** Moved to ./common.ts (C-001 uses it too); re-exported for existing callers. */
export { pairedDifference };

export const layerPreservation = defineKind({
  name: 'layerPreservation',
  description: 'preservation on the critical blocks against uniform preservation at the same bits',
  params: z.strictObject({
    ...EvalParams,
    ...QuantParams,
    /** Overall share kept in full precision (both plans keep the same number of weights; at most MAX_BLOCK_SHARE). */
    share: z.number().gt(0).max(MAX_BLOCK_SHARE).default(0.05),
    criterion: z.enum(['magnitude', 'activation', 'hessian']).default('activation'),
    granularity: z.enum(['weight', 'column']).default('weight'),
    ...CalibrationParams,
    /** The layer-sensitivity experiment naming the critical blocks (default: the first dependency). */
    from: z.string().optional(),
  }),
  // Scoring units through the run's score cache is most of its time: a helper lane saves it.
  helpers: true,
  keyMetrics: [
    'layer_delta_bpb',
    'uniform_delta_bpb',
    'diff_low_delta_bpb',
    'diff_significant',
    'layer_bits_per_weight',
    'uniform_bits_per_weight',
    'layer_kept_weights',
  ],
  models: (p) => [p.model],
  consistency: (reps) => defaultConsistency(reps, ['diff_low_delta_bpb']),
  async run(ctx) {
    const p = ctx.params;
    const src = depId(ctx, p.from, 'a layerSensitivity experiment');
    const layerRows = depMetrics(ctx, src, { model: p.model }).map((r) => ({ r, l: parseLayerMetric(r.metric) }));
    const critical = layerRows
      .filter((x) => x.l?.field === 'critical' && x.r.value === 1)
      .map((x) => x.l!.layer)
      .sort((a, b) => a - b);
    if (critical.length === 0) throw new DataError(`${src} named no critical block for model ${p.model}; rerun it`);
    const t = studyTexts(ctx, p.maxUnits, p.model);
    const m = await openModel(ctx, p.model, p);
    const L = m.model.config.numLayers;
    const stats = needsCalibration(p.criterion)
      ? await calibrationStats(ctx, m, t, calibrationLanguages(t, p.calibration), p.calibrationTokens)
      : null;
    const spec = { bits: p.bits, scheme: p.scheme, groupSize: p.groupSize };
    // Sensitivity of each block for the low-resource group (C-001's matrix): where a capped block's excess goes.
    const lowByBlock = Array.from({ length: L }, () => NaN);
    for (const x of layerRows)
      if (x.l?.field === 'delta_bpb' && x.r.language === LOW && x.l.layer < L) lowByBlock[x.l.layer] = x.r.value;
    const plan = layerPlanShares(p.share, L, critical, rankBlocks(lowByBlock));
    if (plan.spill.length)
      ctx.log(
        `critical block(s) ${critical.join(', ')} capped at ${MAX_BLOCK_SHARE * 100} % each; the rest of the budget goes to block(s) ${plan.spill.join(', ')}`,
      );
    const qLayer = quantizeModel(m.model, {
      spec,
      preserve: {
        criterion: p.criterion,
        granularity: p.granularity,
        budget: { kind: 'map', shares: plan.shares, rest: 0 },
        stats,
      },
    });
    const keptShare = qLayer.account.kept / qLayer.account.weights;
    const budgets = comparisonBudgets(keptShare);
    const qUniform = quantizeModel(m.model, {
      spec,
      preserve: { criterion: p.criterion, granularity: p.granularity, budget: budgets.uniform, stats },
    });
    const qGlobal = quantizeModel(m.model, {
      spec,
      preserve: { criterion: p.criterion, granularity: p.granularity, budget: budgets.global, stats },
    });
    const cache = referenceCache();
    const texts = evaluationTexts(ctx, t, m);
    const results: Record<'layer' | 'uniform' | 'global', Comparisons> = {} as never;
    const arms = [
      ['layer', qLayer],
      ['uniform', qUniform],
      ['global', qGlobal],
    ] as const;
    try {
      for (const [i, [name, q]] of arms.entries()) {
        const qe = await engineFor(q.model, p.engine, ctx, m);
        try {
          results[name] = await compareUnits({
            reference: m.engine,
            treated: qe,
            texts,
            window: m.window,
            kl: false,
            cache,
            modelKey: m.key,
            ...visitOf(ctx),
          });
        } finally {
          await qe.dispose();
        }
        ctx.progress('plans', i + 1, arms.length);
      }
    } finally {
      await m.engine.dispose();
    }
    const w = { model: p.model };
    const o = { seed: ctx.seed, resamples: p.resamples, method: p.interval };
    for (const [name, q] of arms) {
      const deg = degradations(results[name]);
      for (const [lang, d] of deg) ctx.metric(`${name}_delta_bpb`, d.deltaBpb, { model: p.model, language: lang });
      ctx.metric(`${name}_delta_bpb`, meanOf(t.langs.high.map((l) => deg.get(l)!.deltaBpb)), {
        model: p.model,
        language: HIGH,
      });
      ctx.metric(`${name}_delta_bpb`, meanOf(t.langs.low.map((l) => deg.get(l)!.deltaBpb)), {
        model: p.model,
        language: LOW,
      });
      ctx.metric(`${name}_bits_per_weight`, q.account.bitsPerWeight, w);
      ctx.metric(`${name}_kept_weights`, q.account.kept, w);
      ctx.metric(`${name}_preserved_share`, q.account.kept / q.account.weights, w);
      const r = disparity(results[name], t.langs, 'deltaBpb', o);
      ctx.metric(`${name}_ratio_dbpb`, r.ratio, w);
      ctx.metric(`${name}_ratio_dbpb_unstable`, r.unstable ? 1 : 0, w);
      // Whether the plan leaves a low-resource degradation distinguishable from 0 (Q3 decides only then).
      ctx.metric(`${name}_low_delta_bpb_lo`, r.lowLo, w);
      ctx.metric(`${name}_low_delta_bpb_hi`, r.lowHi, w);
    }
    const diff = pairedDifference(results.layer, results.uniform, t.langs.low, {
      seed: deriveSeed(ctx.seed, 'layer-vs-uniform'),
      resamples: p.resamples,
      method: p.interval,
    });
    ctx.metric('diff_low_delta_bpb', diff.estimate, w);
    ctx.metric('diff_low_delta_bpb_lo', diff.lo, w);
    ctx.metric('diff_low_delta_bpb_hi', diff.hi, w);
    ctx.metric('diff_significant', diff.lo > 0 || diff.hi < 0 ? 1 : 0, w);
    ctx.metric('layer_spill_blocks', plan.spill.length, w);
    const dg = pairedDifference(results.layer, results.global, t.langs.low, {
      seed: deriveSeed(ctx.seed, 'layer-vs-global'),
      resamples: p.resamples,
      method: p.interval,
    });
    ctx.metric('diff_global_low_delta_bpb', dg.estimate, w);
    ctx.metric('diff_global_low_delta_bpb_lo', dg.lo, w);
    ctx.metric('diff_global_low_delta_bpb_hi', dg.hi, w);
    ctx.log(
      `critical ${critical.join(', ')}: low ΔBPB layer − uniform ${diff.estimate.toFixed(4)} [${diff.lo.toFixed(4)}, ${diff.hi.toFixed(4)}] at ${qLayer.account.bitsPerWeight.toFixed(3)} / ${qUniform.account.bitsPerWeight.toFixed(3)} bits/weight`,
    );
  },
});
