// Research-question rules of the study written in code (exported as `rules` by ./kinds.ts and named
// by `rule: { fn: … }` in pipelines/disparity.yaml), for a question whose evidence line needs more
// than the declarative rule language of src/pipeline/rules.ts can say without a case per wording.
//
// `preservationHelps` (Q2, "Does preservation help?"), from the optimalPreservation experiment:
//   1. the low-resource mean ΔBPB without preservation must itself be distinguishable from 0 (its
//      95 % bootstrap interval, from A-003, lies above 0); otherwise PARTIAL: there is no measurable
//      degradation to remove, and any "reduction" is noise;
//   2. the optimum must not overshoot: when its interval lies wholly below −(the p = 0 degradation),
//      the preserved model beats full precision by more than quantisation cost it, so what moved
//      BPB is not the repair of quantisation error (a perturbation of that size moves BPB either
//      way; the mini models show it) — PARTIAL;
//   3. CONFIRMED when the best share removes at least `confirm` (default 25 %) of it and the
//      reduction at the optimal share is significant (its interval lies wholly below the p = 0 one);
//   4. PARTIAL when it removes more than `refute` (default 5 %) but not significantly or not enough;
//   5. REFUTED otherwise.
// The evidence never quotes a reduction above 100 % (a share that ends below full precision
// "removes all of it") nor an unstable disparity ratio (high-resource ΔBPB within noise of 0).
// Reference: issue 7 (research questions); metric names in ./metrics.ts (OPTIMAL_METRICS).

import type { QuestionRuleFn } from '../pipeline/kind.ts';
import { defaultAcross, formatNumber, selectValue, type EvidenceSource } from '../pipeline/rules.ts';
import { controlMetric, parseControlMetric } from './metrics.ts';

/** The values Q2 reads from the optimalPreservation experiment, by metric name. */
const Q2_VALUES = {
  share: 'optimal_share',
  bpw: 'optimal_bits_per_weight',
  bpw0: 'p0_bits_per_weight',
  rel: 'max_reduction_low_rel',
  low0: 'p0_low_delta_bpb',
  low0Lo: 'p0_low_delta_bpb_lo',
  low0Hi: 'p0_low_delta_bpb_hi',
  lowOpt: 'optimal_low_delta_bpb',
  lowOptLo: 'optimal_low_delta_bpb_lo',
  lowOptHi: 'optimal_low_delta_bpb_hi',
  r0: 'p0_ratio_dbpb',
  rOpt: 'optimal_ratio_dbpb',
  u0: 'p0_ratio_dbpb_unstable',
  uOpt: 'optimal_ratio_dbpb_unstable',
  sig: 'reduction_significant',
} as const;

const f4 = (x: number) => formatNumber(x, '.4f');
const pct = (x: number) => formatNumber(x, '.0%');

/** A disparity ratio as evidence: "2.05×", or "unstable" when its high-resource mean is within noise of 0. */
export function ratioText(ratio: number, unstable: number): string {
  return unstable > 0
    ? 'unstable'
    : Number.isNaN(unstable) || Number.isNaN(ratio)
      ? 'n/a'
      : `${formatNumber(ratio, '.2f')}×`;
}

/** The share of the degradation removed, capped in words at 100 %. */
export function reductionText(rel: number): string {
  return rel >= 1
    ? 'removes all of the low-resource ΔBPB (and more: it ends at or below full precision)'
    : `removes ${pct(rel)} of the low-resource ΔBPB`;
}

/** Per-share control results read from the controls experiment (B-011). */
interface ShareControl {
  share: number;
  vsRtn: number;
  vsRtnLo: number;
  vsRtnHi: number;
  rtnBits: number;
  vsRandom: number;
  vsRandomLo: number;
  vsRandomHi: number;
  gap: number;
  gapLo: number;
  gapHi: number;
  helps: number;
}

/** The controls of every share in `controls` (B-011), bounds from the worst replicate. */
function shareControls(src: EvidenceSource, controls: string, model: string): ShareControl[] {
  const shares = new Set<number>();
  for (const r of src.metrics(controls)) {
    const c = parseControlMetric(r.metric);
    if (c && c.field === 'share' && (r.model === model || r.model === null)) shares.add(c.share);
  }
  const val = (share: number, field: Parameters<typeof controlMetric>[1]) =>
    selectValue(
      {
        experiment: controls,
        metric: controlMetric(share, field),
        model,
        across: field === 'helps' ? 'min' : defaultAcross(field),
      },
      src,
    ).value;
  return [...shares]
    .sort((a, b) => a - b)
    .map((share) => ({
      share,
      vsRtn: val(share, 'vs_rtn'),
      vsRtnLo: val(share, 'vs_rtn_lo'),
      vsRtnHi: val(share, 'vs_rtn_hi'),
      rtnBits: val(share, 'rtn_bits_per_weight'),
      vsRandom: val(share, 'vs_random'),
      vsRandomLo: val(share, 'vs_random_lo'),
      vsRandomHi: val(share, 'vs_random_hi'),
      gap: val(share, 'gap_narrowing'),
      gapLo: val(share, 'gap_narrowing_lo'),
      gapHi: val(share, 'gap_narrowing_hi'),
      helps: val(share, 'helps'),
    }));
}

const iv = (x: number, lo: number, hi: number) => `${f4(x)} [${f4(lo)}, ${f4(hi)}]`;

export const preservationHelps: QuestionRuleFn = (src: EvidenceSource, params) => {
  const experiment = typeof params.experiment === 'string' ? params.experiment : 'B-004';
  const controls = typeof params.controls === 'string' ? params.controls : null;
  const model = typeof params.model === 'string' ? params.model : 'base';
  const confirm = typeof params.confirm === 'number' ? params.confirm : 0.25;
  const refute = typeof params.refute === 'number' ? params.refute : 0.05;
  const v = {} as Record<keyof typeof Q2_VALUES, number>;
  const missing: string[] = [];
  for (const [name, metric] of Object.entries(Q2_VALUES) as [keyof typeof Q2_VALUES, string][]) {
    // Interval bounds (*_lo, *_hi) take the engine's default: the worst replicate's (min of lower, max of upper).
    const s = selectValue(
      {
        experiment,
        metric,
        model,
        across: name === 'sig' ? 'min' : name === 'u0' || name === 'uOpt' ? 'max' : defaultAcross(metric),
      },
      src,
    );
    v[name] = s.value;
    if (s.rows === 0) missing.push(`${experiment} ${metric}`);
  }
  if (missing.length)
    return { status: 'PENDING', evidence: `no stored values for ${missing.join(', ')}; rerun ${experiment}` };

  const cost = `at ${formatNumber(v.bpw, '.2f')} vs ${formatNumber(v.bpw0, '.2f')} bits/weight`;
  const p0 = `${f4(v.low0)} [${f4(v.low0Lo)}, ${f4(v.low0Hi)}]`;
  if (v.low0Hi < 0) {
    return {
      status: 'PARTIAL',
      evidence: `no degradation to remove: low-resource ΔBPB without preservation ${p0} bits/byte lies below 0 (the quantised model scores these languages slightly better than full precision); optimal ${pct(v.share)} kept gives ${f4(v.lowOpt)}, ${cost}`,
    };
  }
  if (!(v.low0Lo > 0)) {
    return {
      status: 'PARTIAL',
      evidence: `nothing measurable to remove: low-resource ΔBPB without preservation ${p0} bits/byte is within noise (its interval reaches 0); optimal ${pct(v.share)} kept gives ${f4(v.lowOpt)}, ${cost}`,
    };
  }
  const disparity = `disparity ${ratioText(v.r0, v.u0)} → ${ratioText(v.rOpt, v.uOpt)}, ${cost}`;
  const unstable = v.u0 > 0 || v.uOpt > 0 ? '; unstable: high-resource ΔBPB within noise of 0' : '';
  if (v.lowOptHi < -v.low0) {
    return {
      status: 'PARTIAL',
      evidence:
        `overshoot, not a repair: optimal ${pct(v.share)} kept takes low-resource ΔBPB ${p0} → ${f4(v.lowOpt)} [${f4(v.lowOptLo)}, ${f4(v.lowOptHi)}] bits/byte, ` +
        `beating full precision by more than quantisation cost; ${disparity}${unstable}`,
    };
  }
  const significant = v.sig > 0;
  const curve =
    `best share ${reductionText(v.rel)}; optimal ${pct(v.share)} kept (chosen on the selection units): low ΔBPB ${p0} → ${f4(v.lowOpt)}, ${disparity}; ` +
    (significant ? 'reduction significant (intervals apart)' : 'reduction within noise (intervals overlap)') +
    unstable;
  if (controls === null) {
    // Without controls only the old reading is possible, and it cannot confirm (issue 12: equal bits and a control).
    return {
      status: v.rel > refute ? 'PARTIAL' : 'REFUTED',
      evidence: `${curve}; no equal-bits or random control to compare with`,
    };
  }
  const ctl = shareControls(src, controls, model);
  if (ctl.length === 0)
    return { status: 'PENDING', evidence: `no stored control comparisons in ${controls}; rerun it` };
  const parts = ctl.map(
    (c) =>
      `${pct(c.share)}: − RTN@${formatNumber(c.rtnBits, '.2f')} b/w ${iv(c.vsRtn, c.vsRtnLo, c.vsRtnHi)}, − random ${iv(c.vsRandom, c.vsRandomLo, c.vsRandomHi)}, gap narrowing ${iv(c.gap, c.gapLo, c.gapHi)}`,
  );
  const evidence = `${curve}; low ΔBPB preserved − control (bits/byte, negative: preservation better): ${parts.join('; ')}`;
  const helping = ctl.filter((c) => c.helps > 0);
  // Confirmed: some share beats both controls on the low-resource group (paired intervals below 0) and
  // the curve's own reduction is large and significant.
  if (helping.length > 0 && v.rel >= confirm && significant)
    return { status: 'CONFIRMED', evidence: `${pct(helping[0].share)} beats both controls; ${evidence}` };
  // Refuted only on evidence of absence: every share is shown no better than a control by more than
  // `refute` of the unpreserved degradation (its interval against that control lies above −refute·ΔBPB₀).
  const margin = -refute * v.low0;
  const noBetter = (c: ShareControl) => c.vsRtnLo > margin || c.vsRandomLo > margin;
  if (ctl.every(noBetter))
    return {
      status: 'REFUTED',
      evidence: `no share beats both controls by more than ${pct(refute)} of the unpreserved degradation; ${evidence}`,
    };
  return {
    status: 'PARTIAL',
    evidence: helping.length
      ? `${pct(helping[0].share)} beats both controls, but the curve's reduction is small or within noise; ${evidence}`
      : `inconclusive against the controls; ${evidence}`,
  };
};

/** Code rules by name, for `rule: { fn: NAME, params: {…} }` in a pipeline file. */
export const rules: Record<string, QuestionRuleFn> = { preservationHelps };
