// What a report is made of, whatever the study: figures (tables of numbers, each cell referring to
// the stored metric it came from, and an optional Vega-Lite chart drawn from the same numbers) and
// the cells' formatting (means over replicates, ± sample standard deviation, worst-replicate interval
// bounds, aligned decimals). The study's own figures live in src/study/figures/.

import { defaultAcross } from '../pipeline/rules.ts';
import type { MetricSummary } from '../pipeline/store.ts';
import { summaryOf, type ExperimentData } from './data.ts';
import type { VlSpec } from './charts.ts';

/**
 * Where a table cell's number comes from: one stored metric over replicates — its mean, or for an
 * interval bound (`*_lo`, `*_hi`) the worst replicate's (min of lower, max of upper bounds; boundValue).
 */
export interface CellRef {
  experiment: string;
  metric: string;
  model: string | null;
  language: string | null;
}

export interface Cell {
  text: string;
  value?: number; // the exact number shown (rounded in `text`)
  ref?: CellRef; // set when `value` is a store metric over replicates (mean, or a bound's worst replicate)
  derived?: boolean; // computed here from store numbers (e.g. a difference); never set with ref
  worded?: boolean; // `text` puts the number in words (a 0/1 flag as stable/unstable, yes/no)
  sd?: number; // sample standard deviation over replicates, shown as ± after the mean
  signed?: boolean; // shown with an explicit + when positive (differences in --compare)
}

export interface Column {
  label: string;
  unit?: string;
  key?: boolean; // identifies the row (language, model, share …): used to align runs in --compare
  /** Columns naming the same group are shown with one count of decimals (e.g. a value and its interval). */
  decimals?: string;
}

export interface Table {
  id: string;
  caption: string;
  columns: Column[];
  rows: Cell[][];
}

export interface Figure {
  id: string; // also the chart's file name: charts/<id>.svg
  title: string;
  experiments: string[];
  /** Units and definitions of the numbers shown, one sentence each. */
  definitions: string[];
  chart: VlSpec | null;
  tables: Table[];
  notes: string[];
  /** Why the figure is empty (an experiment not run yet, failed, absent from the pipeline). */
  missing: string | null;
}

// ---------------------------------------------------------------- formatting and cells

/** Four significant digits; integers as they are; NaN and infinities spelled out. */
export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e6)) return v.toExponential(3);
  return String(Number(v.toPrecision(4)));
}

/** A standard deviation to two significant digits. */
function formatSd(v: number): string {
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-4 || a >= 1e6) ? v.toExponential(1) : String(Number(v.toPrecision(2)));
}

export const text = (t: string): Cell => ({ text: t });

/**
 * A metric over replicates as the report shows it: the mean, except for an interval bound, which is
 * the worst replicate's — the smallest lower bound (`*_lo`) and the largest upper bound (`*_hi`) —
 * as the question rules read it (defaultAcross in src/pipeline/rules.ts). NaN when no replicate is finite.
 */
export function boundValue(s: MetricSummary): number {
  if (s.n === 0) return NaN;
  const across = defaultAcross(s.metric);
  // A replicate without a bound (NaN: e.g. an unstable ratio) has no interval, so neither has the worst one — as in the
  // rules.
  if (across !== 'mean' && s.nonFinite > 0) return NaN;
  return across === 'min' ? s.min : across === 'max' ? s.max : s.mean;
}

/** Label of an interval column: across replicates it is the worst replicate's interval, not a mean. */
export const WORST = ' (worst replicate)';

/** A cell holding one metric over replicates: the mean (± sd when there are several), or a bound's worst replicate. */
export function metricCell(e: ExperimentData, metric: string, model: string | null, language: string | null): Cell {
  const s = summaryOf(e, metric, model, language);
  const ref = { experiment: e.id, metric, model, language };
  if (!s) return { text: '–' };
  if (s.n === 0) return { text: 'n/a', value: NaN, ref }; // every replicate non-finite (e.g. the interval of an unstable ratio)
  if (defaultAcross(metric) !== 'mean') {
    const v = boundValue(s);
    return { text: Number.isNaN(v) ? 'n/a' : formatNumber(v), value: v, ref };
  }
  const hasSd = s.n > 1 && Number.isFinite(s.sd) && s.sd > 0;
  return {
    text: formatNumber(s.mean) + (hasSd ? ` ± ${formatSd(s.sd)}` : ''),
    value: s.mean,
    ref,
    ...(hasSd ? { sd: s.sd } : {}),
  };
}

/**
 * The number of decimals a column of numbers is shown with: enough for four significant digits of
 * its largest magnitude, so the column lines up on the decimal point and small values read as small
 * (0.000045 beside 0.006572, not 4.5e-5). Null — each number formatted on its own — when every value
 * is a whole number, or the magnitudes need scientific notation (≥ 1e6, or all below 1e-5).
 */
export function columnDecimals(values: number[]): number | null {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0 || finite.every((v) => Number.isInteger(v))) return null;
  const max = Math.max(...finite.map((v) => Math.abs(v)));
  if (max >= 1e6 || max < 1e-5) return null;
  return Math.max(0, 3 - Math.floor(Math.log10(max)));
}

/** A number with a fixed count of decimals, never "-0". */
function fixed(v: number, decimals: number): string {
  const t = v.toFixed(decimals);
  return /^-0(\.0*)?$/.test(t) ? t.slice(1) : t;
}

/**
 * The table as shown: each numeric column (cells with a finite value, not put in words) printed
 * with one count of decimals (columnDecimals), its ± sd with the same decimals. Values are unchanged.
 */
export function alignDecimals(t: Table): Table {
  const numbers = (i: number) =>
    t.rows
      .map((r) => r[i])
      .filter((c): c is Cell => c?.value !== undefined && !c.worded)
      .map((c) => c.value!);
  const decimals = t.columns.map((c, i) => {
    const same = c.decimals === undefined ? [i] : t.columns.flatMap((x, j) => (x.decimals === c.decimals ? [j] : []));
    return columnDecimals(same.flatMap(numbers));
  });
  const rows = t.rows.map((r) =>
    r.map((c, i) => {
      const d = decimals[i];
      if (d === null || c.value === undefined || c.worded || !Number.isFinite(c.value)) return c;
      const sign = c.signed && c.value > 0 ? '+' : '';
      // An sd too small for the column's decimals gets the decimals of its own first significant digit.
      const sd =
        c.sd === undefined
          ? ''
          : ` ± ${fixed(c.sd, Number(fixed(c.sd, d)) > 0 ? d : Math.min(12, Math.max(d, -Math.floor(Math.log10(c.sd)))))}`;
      return { ...c, text: sign + fixed(c.value, d) + sd };
    }),
  );
  return { ...t, rows };
}

export function derivedCell(v: number): Cell {
  return Number.isFinite(v) ? { text: formatNumber(v), value: v, derived: true } : { text: '–' };
}

/** One metric over replicates (the mean; an interval bound's worst replicate), NaN when absent. */
export const overReplicates = (
  e: ExperimentData,
  metric: string,
  model: string | null,
  language: string | null,
): number => {
  const s = summaryOf(e, metric, model, language);
  return s ? boundValue(s) : NaN;
};
