// B-011 `preservationControls`: does keeping salient weights in full precision beat the two controls
// a referee asks for (issue 12)? For each preserved share p (B-001..B-003):
//   - equal bits: plain RTN at equal or fewer bits per weight (the highest-bit RTN experiment among
//     `rtn` and the unpreserved `baseline` whose bits per weight do not exceed the share's): keeping
//     5 % costs 6.65 bits per weight, and a 6-bit RTN model at 6.25 is the fair competitor;
//   - random selection: the same number of weights kept, chosen by a seeded draw (criterion random);
// the paired difference of the low-resource mean ΔBPB (preserved − control; negative: preservation
// is better) with a bootstrap interval over aligned units; and whether preservation narrows the gap:
// (low-resource reduction − high-resource reduction) from the unpreserved baseline, paired interval
// (positive: the gap narrows). A share "helps" only when it beats both controls (both intervals
// wholly below 0). Every arm is read from its experiment's units.json (same replicate, same units).
// Reference: issue 12 ("Equal bits, and a control, for preservation"); metric names in ./metrics.ts.

import { z } from 'zod';
import { bootstrap } from '../eval/bootstrap.ts';
import type { TextComparison } from '../eval/degradation.ts';
import { defaultConsistency, defineKind } from '../pipeline/kind.ts';
import { DataError } from '../errors.ts';
import { deriveSeed } from '../util/rng.ts';
import { languagesFor } from './texts.ts';
import { deltaBpbOf, pairedDifference, type Comparisons } from './compare.ts';
import { meanOf, type IntervalSettings } from './record.ts';
import { comparisonsFromJson, UNITS_FILE } from './artifacts.ts';
import { depArtifactJson, depValue } from './deps.ts';
import { controlMetric } from './metrics.ts';

export interface ControlArm {
  id: string;
  bitsPerWeight: number;
}

/** The equal-bits control of a preserved model: the highest-bit plain arm not above its bits (ties: the first). */
export function equalBitsControl(bits: number, plain: readonly ControlArm[]): ControlArm | null {
  let best: ControlArm | null = null;
  for (const a of plain)
    if (a.bitsPerWeight <= bits + 1e-9 && (!best || a.bitsPerWeight > best.bitsPerWeight)) best = a;
  return best;
}

/**
 * Paired interval over unit ids of the gap narrowing: [low mean of (ΔBPB_base − ΔBPB_treated)] −
 * [high mean of the same]; positive when the treatment removes more low- than high-resource loss.
 */
export function gapNarrowing(
  base: Comparisons,
  treated: Comparisons,
  langs: { low: readonly string[]; high: readonly string[] },
  o: IntervalSettings,
): { estimate: number; lo: number; hi: number } {
  const all = [...langs.low, ...langs.high];
  const ids = [...new Set(all.flatMap((l) => [...base.get(l)!.keys()]))].sort();
  const reduction = (l: string, sample: readonly string[]) => {
    const pick = (c: Comparisons) =>
      sample.map((id) => c.get(l)!.get(id)).filter((u): u is TextComparison => u !== undefined);
    const b = pick(base);
    return b.length ? deltaBpbOf(b) - deltaBpbOf(pick(treated)) : NaN;
  };
  const stat = (sample: readonly string[]) =>
    meanOf(langs.low.map((l) => reduction(l, sample))) - meanOf(langs.high.map((l) => reduction(l, sample)));
  const r = bootstrap(ids, stat, { seed: o.seed, resamples: o.resamples, method: o.method });
  return { estimate: r.estimate, lo: r.lo, hi: r.hi };
}

export const preservationControls = defineKind({
  name: 'preservationControls',
  description: 'preservation against equal-bits RTN and random selection, with paired intervals',
  params: z.strictObject({
    model: z.string().default('base'),
    /** The unpreserved quantize experiment (share 0; also the lowest-bit plain arm). */
    baseline: z.string().default('A-002'),
    /** Preservation experiments (salient weights kept). */
    preserved: z.array(z.string()).min(1),
    /** Plain RTN experiments at more bits (equal-bits controls). */
    rtn: z.array(z.string()).default([]),
    /** Random-selection experiments, one per preserved experiment, same order and share. */
    random: z.array(z.string()).default([]),
    resamples: z.number().int().min(50).max(100000).default(1000),
    interval: z.enum(['bca', 'percentile']).default('bca'),
  }),
  keyMetrics: ['controls_helping_shares', 'controls_shares'],
  models: (p) => [p.model],
  consistency: (reps) => defaultConsistency(reps, ['controls_helping_shares']),
  run(ctx) {
    const p = ctx.params;
    if (p.random.length && p.random.length !== p.preserved.length)
      throw new DataError(
        `${ctx.experiment.id}: params.random names ${p.random.length} experiment(s) for ${p.preserved.length} preserved one(s); give one random control per preserved share, in the same order`,
      );
    for (const id of [p.baseline, ...p.preserved, ...p.rtn, ...p.random]) {
      if (!ctx.deps.ids.includes(id))
        throw new DataError(`${ctx.experiment.id} reads ${id}, which is not among its dependsOn; add it there`);
    }
    const langs = languagesFor(ctx, p.model);
    const units = new Map<string, Comparisons>();
    const load = (id: string) =>
      units.get(id) ?? units.set(id, comparisonsFromJson(depArtifactJson(ctx, id, UNITS_FILE))).get(id)!;
    const bits = (id: string) => depValue(ctx, id, 'bits_per_weight', { model: p.model });
    const plain = [p.baseline, ...p.rtn].map((id) => ({ id, bitsPerWeight: bits(id) }));
    const w = { model: p.model };
    const o = (label: string) => ({
      seed: deriveSeed(ctx.seed, 'controls', label),
      resamples: p.resamples,
      method: p.interval,
    });
    let helping = 0;
    const lines: string[] = [];
    p.preserved.forEach((id, i) => {
      const share = depValue(ctx, id, 'preserved_share', { model: p.model });
      const pb = bits(id);
      const m = (field: Parameters<typeof controlMetric>[1]) => controlMetric(share, field);
      ctx.metric(m('share'), share, w);
      ctx.metric(m('bits_per_weight'), pb, w);
      const pres = load(id);
      let beats = 0;
      const ctrl = equalBitsControl(pb, plain);
      if (ctrl) {
        const d = pairedDifference(pres, load(ctrl.id), langs.low, o(`rtn-${id}`));
        ctx.metric(m('rtn_bits_per_weight'), ctrl.bitsPerWeight, w);
        ctx.metric(m('vs_rtn'), d.estimate, w);
        ctx.metric(m('vs_rtn_lo'), d.lo, w);
        ctx.metric(m('vs_rtn_hi'), d.hi, w);
        if (d.hi < 0) beats++;
        lines.push(
          `${id} (${pb.toFixed(2)} b/w) − ${ctrl.id} (${ctrl.bitsPerWeight.toFixed(2)} b/w): ${d.estimate.toFixed(4)} [${d.lo.toFixed(4)}, ${d.hi.toFixed(4)}]`,
        );
      }
      if (p.random.length) {
        const rid = p.random[i];
        const rs = depValue(ctx, rid, 'preserved_share', { model: p.model });
        if (Math.abs(rs - share) > 0.01 * Math.max(share, 1e-9) + 1e-6)
          throw new DataError(
            `${rid} keeps ${(rs * 100).toFixed(2)} % of the weights, ${id} ${(share * 100).toFixed(2)} %; a random control must keep the same share`,
          );
        const d = pairedDifference(pres, load(rid), langs.low, o(`random-${id}`));
        ctx.metric(m('vs_random'), d.estimate, w);
        ctx.metric(m('vs_random_lo'), d.lo, w);
        ctx.metric(m('vs_random_hi'), d.hi, w);
        if (d.hi < 0) beats++;
        lines.push(`${id} − ${rid} (random): ${d.estimate.toFixed(4)} [${d.lo.toFixed(4)}, ${d.hi.toFixed(4)}]`);
      }
      const g = gapNarrowing(load(p.baseline), pres, langs, o(`gap-${id}`));
      ctx.metric(m('gap_narrowing'), g.estimate, w);
      ctx.metric(m('gap_narrowing_lo'), g.lo, w);
      ctx.metric(m('gap_narrowing_hi'), g.hi, w);
      // Helps only against both controls (a missing control arm cannot be beaten).
      const helps = ctrl !== null && p.random.length > 0 && beats === 2;
      ctx.metric(m('helps'), helps ? 1 : 0, w);
      if (helps) helping++;
    });
    ctx.metric('controls_shares', p.preserved.length, w);
    ctx.metric('controls_helping_shares', helping, w);
    ctx.log(
      `low-resource ΔBPB, preserved − control (negative: preservation better): ${lines.join('; ')}; ${helping}/${p.preserved.length} share(s) beat both controls`,
    );
  },
});
