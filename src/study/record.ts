// Recording the study's metrics (names in src/study/metrics.ts): baselines, per-language
// degradation, group means, and the disparity ratio with its paired bootstrap interval over aligned
// units. Reference: DESIGN.md §4.

import { bootstrap, disparityRatio, type IntervalMethod, type LanguageUnits } from '../eval/bootstrap.ts';
import { languageLevelDisparity } from '../eval/language-level.ts';
import {
  degradationStatistic,
  klPerByte,
  summarizeDegradation,
  type DegradationMeasure,
  type TextComparison,
} from '../eval/degradation.ts';
import { measures, sumTotals, variance, type TextTotals } from '../eval/metrics.ts';
import type { KindContext } from '../pipeline/kind.ts';
import { deriveSeed } from '../util/rng.ts';
import { HIGH, LOW, UNSEEN } from './metrics.ts';
import type { StudyLanguages } from './texts.ts';
import type { Comparisons } from './compare.ts';

/** Records the group means of ΔBPB on the selection units: `sel_low_delta_bpb`, `sel_high_delta_bpb`. */
export function recordSelection(ctx: Rec, alias: string, sel: Comparisons, langs: StudyLanguages): void {
  const deg = degradations(sel);
  ctx.metric('sel_low_delta_bpb', mean(langs.low.map((l) => deg.get(l)!.deltaBpb)), { model: alias });
  ctx.metric('sel_high_delta_bpb', mean(langs.high.map((l) => deg.get(l)!.deltaBpb)), { model: alias });
}
// ---------------------------------------------------------------- recording

type Rec = Pick<KindContext<unknown>, 'metric'>;
export const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** Records a value with its interval: `name`, `name_lo` and `name_hi`. */
function recordInterval(
  ctx: Rec,
  name: string,
  value: number,
  ci: { lo: number; hi: number },
  where: { model: string; language?: string },
): void {
  ctx.metric(name, value, where);
  ctx.metric(`${name}_lo`, ci.lo, where);
  ctx.metric(`${name}_hi`, ci.hi, where);
}

/** The groups whose means are recorded: @high, @low and, when the model has unseen languages, @unseen. */
export function groupsOf(langs: StudyLanguages): [string, string[]][] {
  const g: [string, string[]][] = [
    [HIGH, langs.high],
    [LOW, langs.low],
  ];
  if (langs.unseen.length) g.push([UNSEEN, langs.unseen]);
  return g;
}

/** Records baseline metrics of one language's summed totals. */
export function recordBaseline(
  ctx: Rec,
  alias: string,
  scores: Map<string, Map<string, TextTotals>>,
  langs: StudyLanguages,
): void {
  const ppl = new Map<string, number>();
  const bpb = new Map<string, number>();
  for (const [lang, units] of scores) {
    const m = measures(sumTotals(units.values()));
    const w = { model: alias, language: lang };
    ctx.metric('nll_nats', m.nllNats, w);
    ctx.metric('tokens', m.tokens, w);
    ctx.metric('bytes', m.bytes, w);
    ctx.metric('chars', m.chars, w);
    ctx.metric('mean_nll', m.meanNll, w);
    ctx.metric('ppl', m.tokenPerplexity, w);
    ctx.metric('bpb', m.bitsPerByte, w);
    ctx.metric('bpc', m.bitsPerChar, w);
    ctx.metric('tokens_per_byte', m.tokens / m.bytes, w);
    ppl.set(lang, m.tokenPerplexity);
    bpb.set(lang, m.bitsPerByte);
  }
  for (const [g, list] of groupsOf(langs)) {
    ctx.metric('ppl', mean(list.map((l) => ppl.get(l)!)), { model: alias, language: g });
    ctx.metric('bpb', mean(list.map((l) => bpb.get(l)!)), { model: alias, language: g });
  }
  ctx.metric('ppl_variance', variance([...ppl.values()]), { model: alias });
}

/** Per-language degradation summary (ΔBPB, PPL increase, KL, top-1). */
export function degradations(c: Comparisons): Map<string, ReturnType<typeof summarizeDegradation>> {
  return new Map([...c].map(([lang, units]) => [lang, summarizeDegradation([...units.values()])]));
}

/**
 * Records the per-language degradation metrics (with bootstrap intervals over units of ΔBPB and of
 * the relative perplexity increase),
 * their group means and the perplexity variances. `prefix` names a strategy in C-002 (e.g. 'layer_').
 */
export function recordDegradation(
  ctx: Rec,
  alias: string,
  c: Comparisons,
  langs: StudyLanguages,
  o: IntervalSettings,
): Map<string, ReturnType<typeof summarizeDegradation>> {
  const deg = degradations(c);
  const dbpb = degradationStatistic('deltaBpb');
  const pplRel = degradationStatistic('pplRatioMinus1');
  for (const [lang, d] of deg) {
    const w = { model: alias, language: lang };
    const units = [...c.get(lang)!.values()];
    const ci = bootstrap(units, dbpb, {
      seed: deriveSeed(o.seed, 'delta-bpb', lang),
      resamples: o.resamples,
      method: o.method,
    });
    // The secondary measure gets its own interval over the same units (DESIGN.md §4: intervals on both).
    const cp = bootstrap(units, pplRel, {
      seed: deriveSeed(o.seed, 'ppl-rel-increase', lang),
      resamples: o.resamples,
      method: o.method,
    });
    recordInterval(ctx, 'delta_bpb', d.deltaBpb, ci, w);
    recordInterval(ctx, 'ppl_rel_increase', d.pplRatioMinus1, cp, w);
    ctx.metric('delta_nll', d.deltaNll, w);
    ctx.metric('bpb_q', d.q.bitsPerByte, w);
    ctx.metric('ppl_q', d.q.tokenPerplexity, w);
    ctx.metric('kl_mean', d.klMean, w);
    ctx.metric('kl_p50', d.klP50, w);
    ctx.metric('kl_p90', d.klP90, w);
    ctx.metric('kl_p99', d.klP99, w);
    ctx.metric('kl_max', d.klMax, w);
    ctx.metric('top1_agree', d.top1Agreement, w);
    const kpb = klPerByte(units);
    if (!Number.isNaN(kpb)) ctx.metric('kl_per_byte', kpb, w);
  }
  for (const [g, list] of groupsOf(langs)) {
    ctx.metric('delta_bpb', mean(list.map((l) => deg.get(l)!.deltaBpb)), { model: alias, language: g });
    ctx.metric('ppl_rel_increase', mean(list.map((l) => deg.get(l)!.pplRatioMinus1)), { model: alias, language: g });
  }
  ctx.metric('ppl_variance_q', variance([...deg.values()].map((d) => d.q.tokenPerplexity)), { model: alias });
  return deg;
}

export interface DisparitySummary {
  ratio: number;
  lo: number;
  hi: number;
  unstable: boolean;
  lowMean: number;
  highMean: number;
}

export type DisparityMeasure = Extract<DegradationMeasure, 'deltaBpb' | 'pplRatioMinus1' | 'klPerByte'>;

/** Settings of every interval the study computes: seed, resamples and the interval method. */
export interface IntervalSettings {
  seed: number;
  resamples: number;
  /** Unit-level interval method (default BCa); the language-level two-stage bootstrap is always percentile. */
  method?: IntervalMethod;
}

/** The languages of a group with their units, as the bootstrap takes them. */
export function groupUnits(c: Comparisons, list: readonly string[]): LanguageUnits<TextComparison>[] {
  return list.map((lang) => ({ lang, units: c.get(lang)! }));
}

/** The low/high disparity ratio of one degradation measure with its paired bootstrap interval. */
export function disparity(
  c: Comparisons,
  langs: Pick<StudyLanguages, 'low' | 'high'>,
  measure: DisparityMeasure,
  o: IntervalSettings,
): DisparitySummary & { lowLo: number; lowHi: number; highLo: number; highHi: number } {
  const r = disparityRatio({
    low: groupUnits(c, langs.low),
    high: groupUnits(c, langs.high),
    degradation: degradationStatistic(measure),
    seed: deriveSeed(o.seed, 'disparity', measure),
    resamples: o.resamples,
    method: o.method,
  });
  return {
    // The point estimate is kept even when unstable (flagged), so a report can show what it was.
    ratio: r.lowMean.estimate / r.highMean.estimate,
    lo: r.ratio ? r.ratio.lo : NaN,
    hi: r.ratio ? r.ratio.hi : NaN,
    unstable: r.unstable,
    lowMean: r.lowMean.estimate,
    highMean: r.highMean.estimate,
    lowLo: r.lowMean.lo,
    lowHi: r.lowMean.hi,
    highLo: r.highMean.lo,
    highHi: r.highMean.hi,
  };
}

/** Whether every unit of the comparisons carries KL values (C-001/C-002 compare without KL). */
export function hasKl(c: Comparisons): boolean {
  for (const units of c.values())
    for (const u of units.values()) if (u.kl.length === 0 && u.fp.tokens > 0) return false;
  return c.size > 0;
}

/**
 * Records, for ΔBPB (primary), the relative perplexity increase and KL per byte (second measure,
 * when KL was measured): the ratio with its paired unit-level interval and `unstable` flag, the group
 * means with intervals, and the gap; for a model with unseen languages, their group mean on its own.
 * The low group never includes unseen languages (StudyLanguages.low).
 */
export function recordDisparity(
  ctx: Rec,
  alias: string,
  c: Comparisons,
  langs: StudyLanguages,
  o: IntervalSettings,
): { dbpb: DisparitySummary; ppl: DisparitySummary; klpb: DisparitySummary | null } {
  const dbpb = disparity(c, langs, 'deltaBpb', o);
  const ppl = disparity(c, langs, 'pplRatioMinus1', o);
  const klpb = hasKl(c) ? disparity(c, langs, 'klPerByte', o) : null;
  const w = { model: alias };
  recordInterval(ctx, 'ratio_dbpb', dbpb.ratio, dbpb, w);
  ctx.metric('ratio_dbpb_unstable', dbpb.unstable ? 1 : 0, w);
  recordInterval(ctx, 'ratio_ppl', ppl.ratio, ppl, w);
  ctx.metric('ratio_ppl_unstable', ppl.unstable ? 1 : 0, w);
  const groups: [string, DisparitySummary & { lowLo: number; lowHi: number; highLo: number; highHi: number }][] = [
    ['group_delta_bpb', dbpb],
    ['group_ppl_rel_increase', ppl],
  ];
  if (klpb) {
    recordInterval(ctx, 'ratio_klpb', klpb.ratio, klpb, w);
    ctx.metric('ratio_klpb_unstable', klpb.unstable ? 1 : 0, w);
    groups.push(['group_kl_per_byte', klpb]);
    ctx.metric('low_kl_per_byte_lo', klpb.lowLo, w);
    ctx.metric('high_kl_per_byte_lo', klpb.highLo, w);
  }
  for (const [name, d] of groups) {
    recordInterval(ctx, name, d.highMean, { lo: d.highLo, hi: d.highHi }, { model: alias, language: HIGH });
    recordInterval(ctx, name, d.lowMean, { lo: d.lowLo, hi: d.lowHi }, { model: alias, language: LOW });
  }
  // The language as the unit of inference: a two-stage bootstrap (languages within each group, then
  // units) and a permutation test of the group labels, for both measures.
  for (const [measure, name] of [['deltaBpb', 'dbpb'], ...(klpb ? [['klPerByte', 'klpb']] : [])] as [
    DisparityMeasure,
    string,
  ][]) {
    const L = languageLevelDisparity({
      low: groupUnits(c, langs.low),
      high: groupUnits(c, langs.high),
      degradation: degradationStatistic(measure),
      seed: deriveSeed(o.seed, 'language-level', measure),
      resamples: o.resamples,
    });
    // Unstable over languages: the high group's two-stage interval reaches 0, so the ratio has no interval (NaN
    // bounds).
    ctx.metric(`ratio_${name}_lang_unstable`, L.unstable ? 1 : 0, w);
    ctx.metric(`ratio_${name}_lang_lo`, L.ratio ? L.ratio.lo : NaN, w);
    ctx.metric(`ratio_${name}_lang_hi`, L.ratio ? L.ratio.hi : NaN, w);
    ctx.metric(`perm_p_${name}`, L.permP, w);
  }
  ctx.metric('gap_dbpb', dbpb.lowMean - dbpb.highMean, w);
  // The same group values as experiment-level rows: a question rule's '@low' selects the group's
  // languages (unseen ones included, as the pipeline file lists them), not the group row, and the
  // rules ask whether a degradation is distinguishable from 0.
  ctx.metric('low_delta_bpb', dbpb.lowMean, w);
  ctx.metric('high_delta_bpb', dbpb.highMean, w);
  ctx.metric('low_delta_bpb_lo', dbpb.lowLo, w);
  ctx.metric('low_delta_bpb_hi', dbpb.lowHi, w);
  ctx.metric('high_delta_bpb_lo', dbpb.highLo, w);
  ctx.metric('high_delta_bpb_hi', dbpb.highHi, w);
  ctx.metric('unseen_languages', langs.unseen.length, w);
  if (langs.unseen.length) {
    // The unseen group against the high-resource one, on the same paired draws as the main ratio.
    const u = disparity(c, { low: langs.unseen, high: langs.high }, 'deltaBpb', o);
    recordInterval(ctx, 'group_delta_bpb', u.lowMean, { lo: u.lowLo, hi: u.lowHi }, { model: alias, language: UNSEEN });
    recordInterval(ctx, 'unseen_delta_bpb', u.lowMean, { lo: u.lowLo, hi: u.lowHi }, w);
  } else {
    // Recorded as NaN (stored with its flag) so that a rule can always name it: "unseen languages: 0 (n/a)".
    recordInterval(ctx, 'unseen_delta_bpb', NaN, { lo: NaN, hi: NaN }, w);
  }
  return { dbpb, ppl, klpb };
}
export { mean as meanOf };
