// B-004 `optimalPreservation`: from A-002 (share 0) and B-001..B-003 (shares p), the curve of
// low- and high-resource mean ΔBPB, disparity ratio and effective bits per weight against the
// preserved share, and the optimal share by a stated rule: the smallest share whose reduction of
// the low-resource mean ΔBPB (from p = 0) reaches `target` (default 90 %) of the largest measured
// reduction, reported next to its bit cost. When no share reduces it, the optimum is p = 0.
// Two guards (issue 12): the share is CHOSEN on the selection (calibration) units — each experiment
// records `sel_low_delta_bpb` there — and the evaluation units only report it, so the optimum's
// evaluation numbers are not the maximum of noisy candidates; and a reduction is capped at the
// unpreserved degradation (reduction = ΔBPB₀ − max(ΔBPB_p, 0)): a share that drives ΔBPB below
// full precision (noise) cannot set the 90 % target.
// Reference: DESIGN.md §7 (B-004); metric names in ./metrics.ts (OPTIMAL_METRICS, curveMetric).

import { z } from 'zod';
import { defaultConsistency, defineKind } from '../pipeline/kind.ts';
import { DataError } from '../errors.ts';
import { HIGH, LOW, curveMetric } from './metrics.ts';
import { depMetrics } from './deps.ts';

export interface CurvePoint {
  id: string;
  share: number;
  bitsPerWeight: number;
  low: number; // low-resource mean ΔBPB
  high: number;
  ratio: number; // NaN when the experiment did not compute it
  /** 1 when that ratio is unstable (high-resource ΔBPB within noise of 0), 0 when stable, NaN when unknown. */
  unstable: number;
  /** 95 % bootstrap interval of `low` (NaN when the experiment did not compute it). */
  lowLo: number;
  lowHi: number;
  /** Low-resource mean ΔBPB on the selection units (NaN when not measured). */
  selLow?: number;
}

export interface Optimum {
  share: number;
  bitsPerWeight: number;
  low: number;
  /** Largest reduction of `low` from p = 0 (≤ 0 when nothing helped). */
  maxReduction: number;
  /** The optimum's reduction as a share of the largest (1 at p = 0 when nothing helped). */
  reductionShare: number;
  ratio: number;
  /** Whether the share was chosen on the selection units (every point had them) or on evaluation values. */
  selectedOnSelection: boolean;
}

/**
 * Reduction of a degradation from `d0` (share 0) to `d`, capped at all of it: a share whose ΔBPB ends
 * below full precision removes `d0`, not more (noise below 0 is not a repair). Nothing is removed
 * when there is no degradation to remove (d0 ≤ 0).
 */
export function cappedReduction(d0: number, d: number): number {
  if (!(d0 > 0)) return 0;
  return d0 - Math.max(d, 0);
}

/**
 * The stated rule, pure: smallest share reaching `target` of the largest capped reduction of
 * low-resource ΔBPB, chosen on the selection values when every point has one (else on `low`). The
 * returned `low`, `maxReduction` and `reductionShare` are evaluation values at the chosen share.
 */
export function optimalShare(curve: readonly CurvePoint[], target: number): Optimum {
  const pts = [...curve].sort((a, b) => a.share - b.share);
  const p0 = pts.find((c) => c.share === 0);
  if (!p0)
    throw new DataError(
      'the preservation curve has no point at share 0; make the quantize experiment (A-002) a dependency',
    );
  const onSelection = pts.every((c) => c.selLow !== undefined && Number.isFinite(c.selLow));
  const chooseBy = (c: CurvePoint) => (onSelection ? c.selLow! : c.low);
  const chooseRed = (c: CurvePoint) => cappedReduction(chooseBy(p0), chooseBy(c));
  const maxChoose = Math.max(...pts.map(chooseRed));
  const evalRed = (c: CurvePoint) => cappedReduction(p0.low, c.low);
  const maxReduction = Math.max(...pts.map(evalRed));
  if (!(maxChoose > 0))
    return {
      share: 0,
      bitsPerWeight: p0.bitsPerWeight,
      low: p0.low,
      maxReduction,
      reductionShare: 1,
      ratio: p0.ratio,
      selectedOnSelection: onSelection,
    };
  const best = pts.find((c) => chooseRed(c) >= target * maxChoose)!;
  return {
    share: best.share,
    bitsPerWeight: best.bitsPerWeight,
    low: best.low,
    maxReduction,
    reductionShare: maxReduction > 0 ? evalRed(best) / maxReduction : 0,
    ratio: best.ratio,
    selectedOnSelection: onSelection,
  };
}

export const optimalPreservation = defineKind({
  name: 'optimalPreservation',
  description: 'the optimal preserved share by a stated rule, with the curve',
  params: z.strictObject({
    model: z.string().default('base'),
    /** Fraction of the largest measured reduction of low-resource degradation the optimum must reach. */
    target: z.number().gt(0).max(1).default(0.9),
  }),
  keyMetrics: ['optimal_share', 'optimal_bits_per_weight', 'max_reduction_low'],
  models: () => [],
  consistency: (reps) => defaultConsistency(reps, ['max_reduction_low']),
  run(ctx) {
    const p = ctx.params;
    const curve: CurvePoint[] = [];
    // From a disparity experiment among the dependencies: the share-0 ratio and low-group interval.
    let p0 = { ratio: NaN, unstable: NaN, lowLo: NaN, lowHi: NaN };
    for (const id of ctx.deps.ids) {
      const one = (metric: string, language: string | null = null) => {
        const rows = depMetrics(ctx, id, { metric, model: p.model, language });
        return rows.length ? rows[0].value : NaN;
      };
      // The low mean without unseen languages (experiment-level low_delta_bpb); older runs have only the group row.
      const lowMean = (dep: string) => {
        const rows = depMetrics(ctx, dep, { metric: 'low_delta_bpb', model: p.model, language: null });
        return rows.length ? rows[0].value : one('delta_bpb', LOW);
      };
      const share = one('preserved_share');
      if (Number.isNaN(share)) {
        // Not a quantisation: a disparity experiment over the share-0 results gives the ratio at p = 0.
        if (!Number.isNaN(one('ratio_dbpb')))
          p0 = {
            ratio: one('ratio_dbpb'),
            unstable: one('ratio_dbpb_unstable'),
            lowLo: one('group_delta_bpb_lo', LOW),
            lowHi: one('group_delta_bpb_hi', LOW),
          };
        continue;
      }
      curve.push({
        id,
        share,
        bitsPerWeight: one('bits_per_weight'),
        low: lowMean(id),
        high: one('delta_bpb', HIGH),
        ratio: one('ratio_dbpb'),
        unstable: one('ratio_dbpb_unstable'),
        lowLo: one('group_delta_bpb_lo', LOW),
        lowHi: one('group_delta_bpb_hi', LOW),
        selLow: one('sel_low_delta_bpb'),
      });
    }
    for (const c of curve) if (c.share === 0 && Number.isNaN(c.ratio)) Object.assign(c, p0);
    if (curve.length < 2)
      throw new DataError(
        `${ctx.experiment.id} needs the quantize experiment (share 0) and preserve experiments among its dependsOn; it found ${curve.length} point(s)`,
      );
    const o = optimalShare(curve, p.target);
    const w = { model: p.model };
    for (const c of curve) {
      ctx.metric(curveMetric(c.share, 'share'), c.share, w);
      ctx.metric(curveMetric(c.share, 'bits_per_weight'), c.bitsPerWeight, w);
      ctx.metric(curveMetric(c.share, 'delta_bpb'), c.low, { model: p.model, language: LOW });
      ctx.metric(curveMetric(c.share, 'delta_bpb'), c.high, { model: p.model, language: HIGH });
      // A-002 computes no ratio itself (A-003 does); the curve then has no ratio at share 0.
      if (!Number.isNaN(c.ratio)) ctx.metric(curveMetric(c.share, 'ratio_dbpb'), c.ratio, w);
    }
    const zero = curve.find((c) => c.share === 0)!;
    const best = curve.find((c) => c.share === o.share)!;
    ctx.metric('optimal_share', o.share, w);
    ctx.metric('optimal_bits_per_weight', o.bitsPerWeight, w);
    ctx.metric('optimal_low_delta_bpb', o.low, w);
    ctx.metric('optimal_reduction_share', o.reductionShare, w);
    ctx.metric('max_reduction_low', o.maxReduction, w);
    ctx.metric('max_reduction_low_rel', zero.low > 0 ? o.maxReduction / zero.low : NaN, w);
    ctx.metric('optimal_selected_on_selection', o.selectedOnSelection ? 1 : 0, w);
    ctx.metric('p0_low_delta_bpb', zero.low, w);
    // Whether there is a degradation to remove at all (Q2 decides only when this interval lies above 0).
    ctx.metric('p0_low_delta_bpb_lo', zero.lowLo, w);
    ctx.metric('p0_low_delta_bpb_hi', zero.lowHi, w);
    ctx.metric('optimal_low_delta_bpb_lo', best.lowLo, w);
    ctx.metric('optimal_low_delta_bpb_hi', best.lowHi, w);
    ctx.metric('p0_bits_per_weight', zero.bitsPerWeight, w);
    // Conservative: the optimum's interval lies wholly below the share-0 interval (0 when either is missing).
    ctx.metric('reduction_significant', best.share > 0 && best.lowHi < zero.lowLo ? 1 : 0, w);
    ctx.metric('p0_ratio_dbpb', zero.ratio, w);
    ctx.metric('optimal_ratio_dbpb', o.ratio, w);
    ctx.metric('p0_ratio_dbpb_unstable', zero.unstable, w);
    ctx.metric('optimal_ratio_dbpb_unstable', best.unstable, w);
    ctx.metric('target_fraction', p.target, w);
    ctx.log(
      `optimal share ${(o.share * 100).toFixed(1)} % at ${o.bitsPerWeight.toFixed(2)} bits/weight (low ΔBPB ${zero.low.toFixed(4)} → ${o.low.toFixed(4)})`,
    );
  },
});
