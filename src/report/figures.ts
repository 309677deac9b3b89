// The figures of a study report: for each chart of issue 9, the numbers behind it as tables (every
// number a metric of the store, summarised over replicates, with a reference to where it came from)
// and a Vega-Lite specification drawn from the same numbers. A figure whose experiments have no
// results yet says so (`missing`) instead of failing. Metric names and units come from the study's
// catalogue (src/study/metrics.ts); definitions are stated next to the numbers.
// Reference: issue 9; DESIGN.md §4 (ΔBPB, relative perplexity increase, disparity ratio), §7.

import {
  describeMetric,
  HIGH,
  LOW,
  controlMetric,
  parseControlMetric,
  parseCurveMetric,
  type ControlField,
  parseLayerMetric,
} from '../study/metrics.ts';
import { defaultAcross } from '../pipeline/rules.ts';
import type { MetricSummary } from '../pipeline/store.ts';
import { groupOf, summaryOf, type ExperimentData, type ReportData } from './data.ts';
import { GROUP_COLOURS, groupColour, type VlSpec } from './charts.ts';

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

const text = (t: string): Cell => ({ text: t });

/**
 * A metric over replicates as the report shows it: the mean, except for an interval bound, which is
 * the worst replicate's — the smallest lower bound (`*_lo`) and the largest upper bound (`*_hi`) —
 * as the question rules read it (defaultAcross in src/pipeline/rules.ts). NaN when no replicate is finite.
 */
export function boundValue(s: MetricSummary): number {
  if (s.n === 0) return NaN;
  const across = defaultAcross(s.metric);
  // A replicate without a bound (NaN: e.g. an unstable ratio) has no interval, so neither has the worst one — as in the rules.
  if (across !== 'mean' && s.nonFinite > 0) return NaN;
  return across === 'min' ? s.min : across === 'max' ? s.max : s.mean;
}

/** Label of an interval column: across replicates it is the worst replicate's interval, not a mean. */
const WORST = ' (worst replicate)';

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
  return { text: formatNumber(s.mean) + (hasSd ? ` ± ${formatSd(s.sd)}` : ''), value: s.mean, ref, ...(hasSd ? { sd: s.sd } : {}) };
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
  const numbers = (i: number) => t.rows.map((r) => r[i]).filter((c): c is Cell => c?.value !== undefined && !c.worded).map((c) => c.value!);
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
      const sd = c.sd === undefined ? '' : ` ± ${fixed(c.sd, Number(fixed(c.sd, d)) > 0 ? d : Math.min(12, Math.max(d, -Math.floor(Math.log10(c.sd)))))}`;
      return { ...c, text: sign + fixed(c.value, d) + sd };
    }),
  );
  return { ...t, rows };
}

function derivedCell(v: number): Cell {
  return Number.isFinite(v) ? { text: formatNumber(v), value: v, derived: true } : { text: '–' };
}

/** One metric over replicates (the mean; an interval bound's worst replicate), NaN when absent. */
const overReplicates = (e: ExperimentData, metric: string, model: string | null, language: string | null): number => {
  const s = summaryOf(e, metric, model, language);
  return s ? boundValue(s) : NaN;
};

function unit(metric: string): string | undefined {
  return describeMetric(metric)?.unit;
}

function define(metric: string, label: string): string {
  const d = describeMetric(metric);
  return d ? `${label}: ${d.doc} (${d.unit}).` : `${label}.`;
}

// ---------------------------------------------------------------- selection helpers

const ofKind = (d: ReportData, kind: string) => d.experiments.filter((e) => e.kind === kind);
const hasResults = (e: ExperimentData) => e.summaries.length > 0;

function missingReason(d: ReportData, kinds: string[], found: ExperimentData[]): string {
  if (found.length === 0) return `the pipeline of this run has no ${kinds.map((k) => `\`${k}\``).join(' or ')} experiment, so there is nothing to show`;
  const why = found.map((e) => `${e.id} is ${e.status}${e.reason ? ` (${e.reason})` : ''}`).join('; ');
  return `no results yet: ${why}. Run the pipeline (langquant run) and report again`;
}

function modelsWith(e: ExperimentData, metric: string): string[] {
  return [...new Set(e.summaries.filter((s) => s.metric === metric && s.model !== null).map((s) => s.model!))].sort();
}

/** Languages (not @groups) with a row of `metric`, ordered by group (as the pipeline lists groups), then code. */
function languagesWith(d: ReportData, e: ExperimentData, metric: string, model: string | null): string[] {
  const langs = [...new Set(e.summaries.filter((s) => s.metric === metric && s.model === model && s.language !== null && !s.language.startsWith('@')).map((s) => s.language!))];
  return orderLanguages(d, langs);
}

export function orderLanguages(d: ReportData, langs: string[]): string[] {
  const groups = Object.keys(d.groups);
  const rank = (l: string) => {
    const g = groupOf(d.groups, l);
    const i = groups.indexOf(g);
    return i < 0 ? groups.length : i;
  };
  return [...langs].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

const GROUP_ROWS = [HIGH, LOW];
const groupLabel = (g: string) => (g === HIGH ? 'high-resource mean' : g === LOW ? 'low-resource mean' : g);

const AXIS_LANG = { title: 'language (ISO 639-3)', labelAngle: -45 };

/** Colour by resource group; the legend lists only the groups of `langs`. */
function colourEncoding(d: ReportData, langs: string[]) {
  const present = new Set(langs.map((l) => groupOf(d.groups, l)));
  const groups = [...Object.keys(d.groups), 'other'].filter((g) => present.has(g));
  return {
    field: 'group',
    type: 'nominal',
    title: 'resource group',
    scale: { domain: groups, range: groups.map((g) => groupColour(g)) },
  };
}

// ---------------------------------------------------------------- 1. baseline

function baselineFigure(d: ReportData): Figure {
  const all = ofKind(d, 'baseline');
  const exps = all.filter(hasResults);
  const fig: Figure = {
    id: 'baseline',
    title: 'Baseline: bits per byte and token perplexity per language (full precision)',
    experiments: all.map((e) => e.id),
    definitions: [
      define('bpb', 'BPB'),
      define('ppl', 'PPL'),
      'Scored tokens: every token of a language\'s evaluation text except the first of each unit (it has no context); long text is scored in windows, each token once.',
    ],
    chart: null,
    tables: [],
    notes: [],
    missing: exps.length ? null : missingReason(d, ['baseline'], all),
  };
  const panels: VlSpec[] = [];
  for (const e of exps) {
    for (const model of modelsWith(e, 'bpb')) {
      const langs = languagesWith(d, e, 'bpb', model);
      fig.tables.push({
        id: `baseline-${e.id}-${model}`,
        caption: `${e.id} · model ${model}`,
        columns: [
          { label: 'language', key: true },
          { label: 'group' },
          { label: 'BPB', unit: unit('bpb') },
          { label: 'PPL', unit: 'per token' },
          { label: 'BPC', unit: unit('bpc') },
          { label: 'tokens scored' },
          { label: 'bytes' },
        ],
        rows: [
          ...langs.map((l) => [text(l), text(groupOf(d.groups, l)), metricCell(e, 'bpb', model, l), metricCell(e, 'ppl', model, l), metricCell(e, 'bpc', model, l), metricCell(e, 'tokens', model, l), metricCell(e, 'bytes', model, l)]),
          ...GROUP_ROWS.filter((g) => summaryOf(e, 'bpb', model, g)).map((g) => [text(g), text(groupLabel(g)), metricCell(e, 'bpb', model, g), metricCell(e, 'ppl', model, g), text(''), text(''), text('')]),
        ],
      });
      const values = langs.map((l) => ({ language: l, group: groupOf(d.groups, l), bpb: overReplicates(e, 'bpb', model, l), ppl: overReplicates(e, 'ppl', model, l) }));
      const bar = (field: string, title: string) => ({
        width: Math.max(220, langs.length * 16),
        height: 200,
        title: { text: `${title} — ${model}`, fontSize: 12 },
        mark: { type: 'bar' },
        encoding: {
          x: { field: 'language', type: 'nominal', sort: langs, axis: AXIS_LANG },
          y: { field, type: 'quantitative', title },
          color: colourEncoding(d, langs),
          tooltip: [{ field: 'language' }, { field, format: '.4g' }],
        },
      });
      panels.push({ data: { values }, hconcat: [bar('bpb', 'bits per byte (BPB)'), bar('ppl', 'token perplexity')] });
    }
  }
  if (panels.length) fig.chart = panels.length === 1 ? panels[0] : { vconcat: panels };
  return fig;
}

// ---------------------------------------------------------------- 2. degradation under INT4

function settingOf(e: ExperimentData): string {
  const p = e.params;
  const parts = [p.bits !== undefined ? `INT${p.bits}` : null, typeof p.scheme === 'string' ? p.scheme : null, p.groupSize !== undefined ? `group ${p.groupSize}` : null].filter(Boolean);
  return parts.length ? parts.join(', ') : 'quantised';
}

function errorBarLayer(field: string, lo: string, hi: string, langs: string[], title: string, d: ReportData, model: string) {
  // Bars with the bootstrap interval as a rule from lo to hi, and a line at 0.
  return {
    width: Math.max(220, langs.length * 16),
    height: 200,
    title: { text: `${title} — ${model}`, fontSize: 12 },
    encoding: { x: { field: 'language', type: 'nominal', sort: langs, axis: AXIS_LANG } },
    layer: [
      { mark: 'bar', encoding: { y: { field, type: 'quantitative', title }, color: colourEncoding(d, langs) } },
      { mark: { type: 'rule', color: '#222', strokeWidth: 1.2 }, encoding: { y: { field: lo, type: 'quantitative' }, y2: { field: hi } } },
      { mark: { type: 'rule', color: '#555', strokeDash: [3, 3] }, encoding: { y: { datum: 0 } } },
    ],
  };
}

function degradationFigure(d: ReportData): Figure {
  const all = ofKind(d, 'quantize');
  const exps = all.filter(hasResults);
  const fig: Figure = {
    id: 'degradation',
    title: 'Degradation per language under quantisation (ΔBPB and relative perplexity increase)',
    experiments: all.map((e) => e.id),
    definitions: [
      define('delta_bpb', 'ΔBPB'),
      'Interval: 95 % bootstrap interval of ΔBPB from resampling the language\'s aligned text units (UDHR articles); error bars in the chart. Over several replicates it is the worst replicate\'s: the smallest lower and the largest upper bound, not a mean of bounds.',
      define('ppl_rel_increase', 'Relative PPL increase'),
      define('kl_mean', 'KL'),
      define('top1_agree', 'Top-1'),
      'Both models score the same tokens of the same text; positive values mean the quantised model is worse.',
    ],
    chart: null,
    tables: [],
    notes: [],
    missing: exps.length ? null : missingReason(d, ['quantize'], all),
  };
  const panels: VlSpec[] = [];
  for (const e of exps) {
    const bits = summaryOf(e, 'bits_per_weight', null, null) ?? e.summaries.find((s) => s.metric === 'bits_per_weight');
    if (bits) fig.notes.push(`${e.id} (${settingOf(e)}): ${formatNumber(bits.mean)} effective bits per weight, everything counted.`);
    for (const model of modelsWith(e, 'delta_bpb')) {
      const langs = languagesWith(d, e, 'delta_bpb', model);
      const row = (l: string) => [
        text(l),
        text(l.startsWith('@') ? groupLabel(l) : groupOf(d.groups, l)),
        metricCell(e, 'delta_bpb', model, l),
        metricCell(e, 'delta_bpb_lo', model, l),
        metricCell(e, 'delta_bpb_hi', model, l),
        metricCell(e, 'ppl_rel_increase', model, l),
        metricCell(e, 'kl_mean', model, l),
        metricCell(e, 'top1_agree', model, l),
      ];
      fig.tables.push({
        id: `degradation-${e.id}-${model}`,
        caption: `${e.id} · model ${model} · ${settingOf(e)}`,
        columns: [
          { label: 'language', key: true },
          { label: 'group' },
          { label: 'ΔBPB', unit: unit('delta_bpb'), decimals: 'dbpb' },
          { label: `ΔBPB 2.5 %${WORST}`, unit: unit('delta_bpb'), decimals: 'dbpb' },
          { label: `ΔBPB 97.5 %${WORST}`, unit: unit('delta_bpb'), decimals: 'dbpb' },
          { label: 'PPL_q/PPL_fp − 1', unit: unit('ppl_rel_increase') },
          { label: 'KL mean', unit: unit('kl_mean') },
          { label: 'top-1 agreement', unit: unit('top1_agree') },
        ],
        rows: [...langs.map(row), ...GROUP_ROWS.filter((g) => summaryOf(e, 'delta_bpb', model, g)).map(row)],
      });
      const values = langs.map((l) => ({
        language: l,
        group: groupOf(d.groups, l),
        dbpb: overReplicates(e, 'delta_bpb', model, l),
        lo: overReplicates(e, 'delta_bpb_lo', model, l),
        hi: overReplicates(e, 'delta_bpb_hi', model, l),
        rel: overReplicates(e, 'ppl_rel_increase', model, l),
      }));
      const rel = {
        width: Math.max(220, langs.length * 16),
        height: 200,
        title: { text: `relative perplexity increase — ${model}`, fontSize: 12 },
        mark: 'bar',
        encoding: {
          x: { field: 'language', type: 'nominal', sort: langs, axis: AXIS_LANG },
          y: { field: 'rel', type: 'quantitative', title: 'PPL_q / PPL_fp − 1', axis: { format: '.1%' } },
          color: colourEncoding(d, langs),
        },
      };
      panels.push({ data: { values }, hconcat: [errorBarLayer('dbpb', 'lo', 'hi', langs, 'ΔBPB (bits/byte)', d, model), rel] });
    }
  }
  if (panels.length) fig.chart = panels.length === 1 ? panels[0] : { vconcat: panels };
  return fig;
}

// ---------------------------------------------------------------- 3. disparity ratio per model

function disparityFigure(d: ReportData): Figure {
  const all = [...ofKind(d, 'disparity'), ...ofKind(d, 'validate')];
  const exps = all.filter((e) => e.summaries.some((s) => s.metric === 'ratio_dbpb'));
  const fig: Figure = {
    id: 'disparity',
    title: 'Disparity ratio (low-resource / high-resource mean degradation) per model',
    experiments: all.map((e) => e.id),
    definitions: [
      define('ratio_dbpb', 'Ratio (ΔBPB)'),
      define('ratio_ppl', 'Ratio (PPL)'),
      'Intervals: 95 % paired bootstrap over aligned text units; over several replicates the worst replicate\'s (smallest lower, largest upper bound). A ratio is unstable — not a number to report — when the high-resource mean is ≤ 0 or its interval contains 0; 1 means no disparity (dashed line).',
      define('gap_dbpb', 'Gap'),
    ],
    chart: null,
    tables: [],
    notes: [],
    missing: exps.length ? null : missingReason(d, ['disparity', 'validate'], all),
  };
  if (!exps.length) return fig;
  const rows: Cell[][] = [];
  const values: Record<string, unknown>[] = [];
  for (const e of exps) {
    const models = [...new Set(e.summaries.filter((s) => s.metric === 'ratio_dbpb').map((s) => s.model))];
    for (const model of models) {
      rows.push([
        text(model ?? '–'),
        text(e.id),
        metricCell(e, 'ratio_dbpb', model, null),
        metricCell(e, 'ratio_dbpb_lo', model, null),
        metricCell(e, 'ratio_dbpb_hi', model, null),
        unstableCell(e, 'ratio_dbpb_unstable', model),
        metricCell(e, 'ratio_ppl', model, null),
        metricCell(e, 'ratio_ppl_lo', model, null),
        metricCell(e, 'ratio_ppl_hi', model, null),
        unstableCell(e, 'ratio_ppl_unstable', model),
        metricCell(e, 'gap_dbpb', model, null),
      ]);
      for (const [measure, m] of [['ΔBPB', 'ratio_dbpb'], ['relative PPL increase', 'ratio_ppl']] as const) {
        if (!summaryOf(e, m, model, null)) continue;
        const unstable = overReplicates(e, `${m}_unstable`, model, null) > 0;
        values.push({ model: `${model ?? '–'} (${e.id})`, measure, ratio: overReplicates(e, m, model, null), lo: overReplicates(e, `${m}_lo`, model, null), hi: overReplicates(e, `${m}_hi`, model, null), state: unstable ? 'unstable' : 'stable' });
      }
    }
  }
  fig.tables.push({
    id: 'disparity-ratios',
    caption: 'disparity ratio per model, with 95 % bootstrap intervals',
    columns: [
      { label: 'model', key: true },
      { label: 'experiment', key: true },
      { label: 'ratio ΔBPB', decimals: 'dbpb' },
      { label: `2.5 %${WORST}`, decimals: 'dbpb' },
      { label: `97.5 %${WORST}`, decimals: 'dbpb' },
      { label: 'unstable?' },
      { label: 'ratio PPL', decimals: 'ppl' },
      { label: `2.5 %${WORST}`, decimals: 'ppl' },
      { label: `97.5 %${WORST}`, decimals: 'ppl' },
      { label: 'unstable?' },
      { label: 'gap ΔBPB', unit: unit('gap_dbpb') },
    ],
    rows,
  });
  // The language as the unit of inference, the second measure and the unseen group (issue 12), where recorded.
  const lrows: Cell[][] = [];
  for (const e of exps) {
    for (const model of [...new Set(e.summaries.filter((s) => s.metric === 'ratio_dbpb_lang_lo').map((s) => s.model))]) {
      lrows.push([
        text(model ?? '–'),
        text(e.id),
        metricCell(e, 'ratio_dbpb_lang_lo', model, null),
        metricCell(e, 'ratio_dbpb_lang_hi', model, null),
        metricCell(e, 'perm_p_dbpb', model, null),
        metricCell(e, 'ratio_klpb', model, null),
        metricCell(e, 'ratio_klpb_lo', model, null),
        metricCell(e, 'ratio_klpb_hi', model, null),
        metricCell(e, 'unseen_languages', model, null),
        metricCell(e, 'unseen_delta_bpb', model, null),
      ]);
    }
  }
  if (lrows.length) {
    fig.definitions.push(
      'Over languages: a two-stage bootstrap (languages drawn within each group, then units within each language) and a one-sided permutation test of the group labels (p: the chance of a low − high difference at least this large if the labels were exchangeable). KL per byte: Σ KL(p_fp ‖ p_q) over scored positions / (bytes · ln 2), the second measure; unseen: languages the model never saw, reported apart from the low group.',
    );
    fig.tables.push({
      id: 'disparity-languages',
      caption: 'the ΔBPB ratio at the language level, the KL-per-byte ratio, and the unseen group',
      columns: [
        { label: 'model', key: true },
        { label: 'experiment', key: true },
        { label: `ΔBPB ratio 2.5 % over languages${WORST}`, decimals: 'ratio' },
        { label: `97.5 %${WORST}`, decimals: 'ratio' },
        { label: 'permutation p' },
        { label: 'ratio KL/byte', decimals: 'ratio' },
        { label: `2.5 %${WORST}`, decimals: 'ratio' },
        { label: `97.5 %${WORST}`, decimals: 'ratio' },
        { label: 'unseen languages' },
        { label: 'unseen ΔBPB', unit: unit('unseen_delta_bpb') },
      ],
      rows: lrows,
    });
  }
  const panel = (measure: string) => ({
    width: 300,
    height: { step: 28 },
    title: { text: `ratio of ${measure}`, fontSize: 12 },
    transform: [{ filter: { field: 'measure', equal: measure } }],
    encoding: { y: { field: 'model', type: 'nominal', title: null } },
    layer: [
      { mark: { type: 'rule', strokeDash: [4, 3], color: '#777' }, encoding: { x: { datum: 1 }, y: null } },
      { mark: { type: 'rule', strokeWidth: 2 }, encoding: { x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' }, color: stateColour } },
      { mark: { type: 'point', filled: true, size: 70 }, encoding: { x: { field: 'ratio', type: 'quantitative', title: 'low / high mean degradation', scale: { zero: true } }, color: stateColour, shape: { field: 'state', type: 'nominal', title: 'ratio' } } },
    ],
  });
  fig.chart = { data: { values }, hconcat: [panel('ΔBPB'), panel('relative PPL increase')] };
  return fig;
}

const stateColour = { field: 'state', type: 'nominal', title: 'ratio', scale: { domain: ['stable', 'unstable'], range: ['#222222', '#AAAAAA'] } };

function unstableCell(e: ExperimentData, metric: string, model: string | null): Cell {
  const c = metricCell(e, metric, model, null);
  if (c.value === undefined) return c;
  return { ...c, worded: true, text: c.value > 0 ? (c.value < 1 ? `unstable in ${formatNumber(c.value * 100)} % of replicates` : 'unstable') : 'stable' };
}

// ---------------------------------------------------------------- 4. preservation curve

/** The experiment that measured the disparity ratio of a curve point: a dependency of `e` (the
 *  disparity experiment for p = 0, the preserve experiment with that share) for the same model. */
function stabilitySource(d: ReportData, e: ExperimentData, p: number, model: string | null): ExperimentData | undefined {
  const deps = d.experiments.filter((x) => e.dependsOn.includes(x.id) && summaryOf(x, 'ratio_dbpb_unstable', model, null));
  if (p === 0) return deps.find((x) => x.kind === 'disparity');
  return deps.find((x) => x.kind === 'preserve' && typeof x.params.share === 'number' && Math.abs(x.params.share - p) < 1e-6);
}

function preservationFigure(d: ReportData): Figure {
  const all = ofKind(d, 'optimalPreservation');
  const exps = all.filter((e) => e.summaries.some((s) => parseCurveMetric(s.metric)));
  const fig: Figure = {
    id: 'preservation',
    title: 'Preservation curve: degradation of each group and disparity against effective bits per weight',
    experiments: all.map((e) => e.id),
    definitions: [
      'Share p: share of the quantised weights kept in full precision (p = 0: plain quantisation).',
      define('bits_per_weight', 'Bits per weight'),
      'ΔBPB per group: mean ΔBPB over the group\'s languages (bits/byte). Ratio: low / high mean ΔBPB.',
      define('optimal_share', 'Optimal share') + ' The rule: the smallest share reaching the target fraction of the largest measured reduction in low-resource mean ΔBPB.',
    ],
    chart: null,
    tables: [],
    notes: [],
    missing: exps.length ? null : missingReason(d, ['optimalPreservation'], all),
  };
  const panels: VlSpec[] = [];
  for (const e of exps) {
    const models = [...new Set(e.summaries.filter((s) => parseCurveMetric(s.metric)).map((s) => s.model))];
    for (const model of models) {
      const byShare = new Map<number, Map<string, string>>(); // share → "field|language" → metric name
      for (const s of e.summaries) {
        const c = s.model === model ? parseCurveMetric(s.metric) : null;
        if (!c) continue;
        const m = byShare.get(c.share) ?? byShare.set(c.share, new Map()).get(c.share)!;
        m.set(`${c.field}|${s.language ?? ''}`, s.metric);
      }
      const shares = [...byShare.keys()].sort((a, b) => a - b);
      const cell = (share: number, field: string, lang: string | null) => {
        const name = byShare.get(share)!.get(`${field}|${lang ?? ''}`);
        return name ? metricCell(e, name, model, lang) : text('–');
      };
      // Whether the ratio at each share is stable comes from the experiment that measured it: the
      // disparity experiment for p = 0, the preserve experiment of that share otherwise (both record
      // ratio_dbpb_unstable). Without one, a high-resource mean ΔBPB ≤ 0 still makes it unstable.
      const stability = (p: number): Cell => {
        const src = stabilitySource(d, e, p, model);
        if (src) return unstableCell(src, 'ratio_dbpb_unstable', model);
        const high = byShare.get(p)!.get(`delta_bpb|${HIGH}`);
        return high !== undefined && overReplicates(e, high, model, HIGH) <= 0 ? { text: 'unstable (high-resource mean ≤ 0)', value: 1, derived: true, worded: true } : text('–');
      };
      const unstableAt = new Set(shares.filter((p) => (stability(p).value ?? 0) > 0));
      fig.tables.push({
        id: `preservation-${e.id}${model ? `-${model}` : ''}`,
        caption: `${e.id}${model ? ` · model ${model}` : ''}`,
        columns: [
          { label: 'share p', unit: '%', key: true },
          { label: 'bits per weight', unit: 'bits/weight' },
          { label: 'ΔBPB high', unit: 'bits/byte', decimals: 'dbpb' },
          { label: 'ΔBPB low', unit: 'bits/byte', decimals: 'dbpb' },
          { label: 'ratio ΔBPB', unit: 'ratio' },
          { label: 'ratio unstable?' },
        ],
        rows: shares.map((p) => [text(formatNumber(p * 100)), cell(p, 'bits_per_weight', null), cell(p, 'delta_bpb', HIGH), cell(p, 'delta_bpb', LOW), cell(p, 'ratio_dbpb', null), stability(p)]),
      });
      const optShare = overReplicates(e, 'optimal_share', model, null);
      const optBits = overReplicates(e, 'optimal_bits_per_weight', model, null);
      if (Number.isFinite(optShare)) {
        fig.notes.push(`${e.id}: optimal share ${formatNumber(optShare * 100)} % at ${formatNumber(optBits)} bits per weight` + (Number.isFinite(overReplicates(e, 'optimal_reduction_share', model, null)) ? `, reaching ${formatNumber(overReplicates(e, 'optimal_reduction_share', model, null) * 100)} % of the largest reduction (target ${formatNumber(overReplicates(e, 'target_fraction', model, null) * 100)} %).` : '.'));
      }
      if (unstableAt.size) fig.notes.push(`${e.id}: the disparity ratio at ${[...unstableAt].map((p) => `p = ${formatNumber(p * 100)} %`).join(', ')} is unstable (the high-resource mean ΔBPB is ≤ 0 or its interval contains 0), so it is not drawn.`);
      const num = (p: number, f: string, l: string | null) => {
        const name = byShare.get(p)!.get(`${f}|${l ?? ''}`);
        return name ? overReplicates(e, name, model, l) : NaN;
      };
      const optimal = (p: number) => Number.isFinite(optShare) && Math.abs(p - optShare) < 0.005;
      const values: Record<string, unknown>[] = [];
      for (const p of shares) {
        const bits = num(p, 'bits_per_weight', null);
        const share = `${formatNumber(p * 100)} %`;
        for (const [g, label] of [[HIGH, 'high'], [LOW, 'low']] as const) values.push({ series: 'group', group: label, share, bits, dbpb: num(p, 'delta_bpb', g) });
        if (!unstableAt.has(p)) values.push({ series: 'ratio', share, bits, ratio: num(p, 'ratio_dbpb', null) });
        // One label per share in a strip above the plot, where it cannot cover a point.
        values.push({ series: 'label', bits, label: optimal(p) ? `${share} ★` : share, optimal: optimal(p) });
      }
      const xBits = { field: 'bits', type: 'quantitative', title: 'effective bits per weight', scale: { zero: false } };
      const labelLayers = [
        ...(Number.isFinite(optBits) ? [{ data: { values: [{ bits: optBits }] }, mark: { type: 'rule', strokeDash: [5, 3], color: '#2E7D32', strokeWidth: 1.5 }, encoding: { x: { field: 'bits', type: 'quantitative' } } }] : []),
        {
          transform: [{ filter: { field: 'series', equal: 'label' } }],
          mark: { type: 'text', baseline: 'bottom', fontSize: 10 },
          encoding: { x: xBits, y: { value: -4 }, text: { field: 'label' }, color: { condition: { test: 'datum.optimal', value: '#2E7D32' }, value: '#444444' } },
        },
      ];
      const subtitle = ['share p kept in full precision above each point', ...(Number.isFinite(optShare) ? ['★ and dashed line: the optimal share'] : [])];
      const groups = {
        width: 300,
        height: 220,
        title: { text: `mean ΔBPB per group — ${model ?? e.id}`, subtitle, fontSize: 12, subtitleFontSize: 10, subtitleColor: '#555', offset: 18 },
        layer: [
          { mark: { type: 'rule', color: '#999', strokeDash: [2, 2] }, encoding: { y: { datum: 0 } } },
          {
            transform: [{ filter: { field: 'series', equal: 'group' } }],
            mark: { type: 'line', point: { filled: true, size: 50 } },
            encoding: { x: xBits, y: { field: 'dbpb', type: 'quantitative', title: 'mean ΔBPB (bits/byte)' }, color: { field: 'group', type: 'nominal', title: 'resource group', scale: { domain: ['high', 'low'], range: [GROUP_COLOURS.high, GROUP_COLOURS.low] } }, tooltip: [{ field: 'share' }, { field: 'bits', format: '.3f' }, { field: 'dbpb', format: '.4g' }] },
          },
          ...labelLayers,
        ],
      };
      const ratio = {
        width: 300,
        height: 220,
        title: { text: `disparity ratio (ΔBPB) — ${model ?? e.id}`, subtitle: ['dashed at 1: no disparity', ...(unstableAt.size ? ['unstable ratios are not drawn'] : [])], fontSize: 12, subtitleFontSize: 10, subtitleColor: '#555', offset: 18 },
        layer: [
          { mark: { type: 'rule', strokeDash: [4, 3], color: '#999' }, encoding: { y: { datum: 1 } } },
          { transform: [{ filter: { field: 'series', equal: 'ratio' } }], mark: { type: 'line', color: '#444', point: { filled: true, color: '#444', size: 50 } }, encoding: { x: xBits, y: { field: 'ratio', type: 'quantitative', title: 'low / high mean ΔBPB', scale: { zero: true } } } },
          ...labelLayers,
        ],
      };
      panels.push({ data: { values }, hconcat: [groups, ratio] });
    }
  }
  if (panels.length) fig.chart = panels.length === 1 ? panels[0] : { vconcat: panels };
  controlsTable(d, fig);
  return fig;
}

/** Preservation against its controls (B-011): equal-bits RTN and random selection, per share. */
function controlsTable(d: ReportData, fig: Figure): void {
  for (const e of ofKind(d, 'preservationControls')) {
    fig.experiments.push(e.id);
    for (const model of [...new Set(e.summaries.filter((s) => s.metric === 'controls_shares').map((s) => s.model))]) {
      const shares = [...new Set(e.summaries.map((s) => parseControlMetric(s.metric)).filter((c) => c?.field === 'share').map((c) => c!.share))].sort((a, b) => a - b);
      const m = (share: number, field: ControlField) => metricCell(e, controlMetric(share, field), model, null);
      const rows = shares.map((p) => [
        text(`${Number((p * 100).toFixed(2))} %`),
        m(p, 'bits_per_weight'),
        m(p, 'rtn_bits_per_weight'),
        m(p, 'vs_rtn'), m(p, 'vs_rtn_lo'), m(p, 'vs_rtn_hi'),
        m(p, 'vs_random'), m(p, 'vs_random_lo'), m(p, 'vs_random_hi'),
        m(p, 'gap_narrowing'), m(p, 'gap_narrowing_lo'), m(p, 'gap_narrowing_hi'),
      ]);
      if (!rows.length) continue;
      fig.definitions.push(
        'Controls: each share against plain RTN at equal or fewer bits per weight and against the same share of weights kept at random; differences of the low-resource mean ΔBPB, preserved − control (negative: preservation is better), and the gap narrowing (low-resource reduction − high-resource reduction from the unpreserved model; positive: the gap narrows), each with a 95 % paired bootstrap interval over aligned units.',
      );
      fig.tables.push({
        id: 'preservation-controls',
        caption: `${e.id}${model ? ` · model ${model}` : ''} · preservation against equal-bits RTN and random selection`,
        columns: [
          { label: 'share kept', key: true },
          { label: 'bits/weight', decimals: 'bits' },
          { label: 'RTN control bits/weight', decimals: 'bits' },
          { label: '− RTN', unit: 'bits/byte', decimals: 'dbpb' }, { label: `2.5 %${WORST}`, decimals: 'dbpb' }, { label: `97.5 %${WORST}`, decimals: 'dbpb' },
          { label: '− random', unit: 'bits/byte', decimals: 'dbpb' }, { label: `2.5 %${WORST}`, decimals: 'dbpb' }, { label: `97.5 %${WORST}`, decimals: 'dbpb' },
          { label: 'gap narrowing', unit: 'bits/byte', decimals: 'dbpb' }, { label: `2.5 %${WORST}`, decimals: 'dbpb' }, { label: `97.5 %${WORST}`, decimals: 'dbpb' },
        ],
        rows,
      });
    }
  }
}

// ---------------------------------------------------------------- 5. block × language heatmap

function heatmapFigure(d: ReportData): Figure {
  const all = ofKind(d, 'layerSensitivity');
  const exps = all.filter((e) => e.summaries.some((s) => parseLayerMetric(s.metric)?.field === 'delta_bpb'));
  const fig: Figure = {
    id: 'layer-sensitivity',
    title: 'Block × language sensitivity: ΔBPB when one block alone is quantised',
    experiments: all.map((e) => e.id),
    definitions: [
      'Cell: ΔBPB (bits/byte) of the language when only that transformer block\'s linear weights are quantised and every other weight stays at full precision.',
      define('critical_layer', 'Critical block'),
      'Blocks marked ★ form the critical set used by layer-specific preservation.',
    ],
    chart: null,
    tables: [],
    notes: [],
    missing: exps.length ? null : missingReason(d, ['layerSensitivity'], all),
  };
  const panels: VlSpec[] = [];
  for (const e of exps) {
    const models = [...new Set(e.summaries.filter((s) => parseLayerMetric(s.metric)?.field === 'delta_bpb').map((s) => s.model))];
    for (const model of models) {
      const cells = e.summaries.filter((s) => s.model === model && parseLayerMetric(s.metric)?.field === 'delta_bpb' && s.language !== null);
      const layers = [...new Set(cells.map((s) => parseLayerMetric(s.metric)!.layer))].sort((a, b) => a - b);
      const langs = [...orderLanguages(d, [...new Set(cells.map((s) => s.language!).filter((l) => !l.startsWith('@')))]), ...GROUP_ROWS.filter((g) => cells.some((s) => s.language === g))];
      const critical = new Set(layers.filter((i) => overReplicates(e, `layer${i}_critical`, model, null) > 0.5 || overReplicates(e, `layer${i}_critical`, null, null) > 0.5));
      fig.tables.push({
        id: `layer-sensitivity-${e.id}${model ? `-${model}` : ''}`,
        caption: `${e.id}${model ? ` · model ${model}` : ''} · ΔBPB (bits/byte) by quantised block`,
        columns: [{ label: 'language', key: true }, { label: 'group' }, ...layers.map((i) => ({ label: `block ${i}${critical.has(i) ? ' ★' : ''}`, decimals: 'dbpb' })), { label: 'most sensitive block' }],
        rows: langs.map((l) => [text(l), text(l.startsWith('@') ? groupLabel(l) : groupOf(d.groups, l)), ...layers.map((i) => metricCell(e, `layer${i}_delta_bpb`, model, l)), metricCell(e, 'critical_layer', model, l)]),
      });
      const values = cells.map((s) => ({ language: s.language, block: parseLayerMetric(s.metric)!.layer, dbpb: s.n > 0 ? s.mean : null }));
      // A symmetric domain, so equal colour depth means equal |ΔBPB| on either side of 0.
      const reach = Math.max(1e-12, ...values.map((v) => (v.dbpb !== null && Number.isFinite(v.dbpb) ? Math.abs(v.dbpb) : 0)));
      panels.push({
        data: { values },
        width: Math.max(200, layers.length * 44),
        height: { step: 20 },
        title: { text: `ΔBPB (bits/byte) with one block quantised — ${model ?? e.id}`, fontSize: 12 },
        layer: [
          {
            mark: { type: 'rect' },
            encoding: {
              x: { field: 'block', type: 'ordinal', title: 'quantised block (★ critical)', sort: layers, axis: { labelAngle: 0, labelExpr: `indexof([${[...critical].join(',')}], datum.value) >= 0 ? datum.value + ' ★' : '' + datum.value` } },
              y: { field: 'language', type: 'nominal', sort: langs, title: 'language' },
              // ΔBPB can be negative (quantisation helped): a diverging scale with white at 0, red worse, blue better.
              color: { field: 'dbpb', type: 'quantitative', title: 'ΔBPB', scale: { scheme: 'redblue', reverse: true, domain: [-reach, reach] } },
            },
          },
        ],
      });
    }
    const rho = summaryOf(e, 'profile_rank_corr', null, null) ?? e.summaries.find((s) => s.metric === 'profile_rank_corr');
    if (rho) fig.notes.push(`${e.id}: rank correlation of the high- and low-resource sensitivity profiles across blocks ρ = ${formatNumber(rho.mean)}.`);
  }
  if (panels.length) fig.chart = panels.length === 1 ? panels[0] : { vconcat: panels };
  return fig;
}

// ---------------------------------------------------------------- 6. layer-specific against uniform preservation

function layerPreservationFigure(d: ReportData): Figure {
  const all = ofKind(d, 'layerPreservation');
  const exps = all.filter((e) => e.summaries.some((s) => s.metric === 'layer_delta_bpb'));
  const fig: Figure = {
    id: 'layer-preservation',
    title: 'Layer-specific against uniform preservation at the same bit budget',
    experiments: all.map((e) => e.id),
    definitions: [
      define('layer_delta_bpb', 'Layer-specific'),
      define('uniform_delta_bpb', 'Uniform'),
      'Difference: layer-specific − uniform ΔBPB (negative: layer-specific preservation is better); computed here from the two stored columns.',
      define('diff_low_delta_bpb', 'Low-resource difference') + ' Significant when its 95 % paired bootstrap interval excludes 0.',
    ],
    chart: null,
    tables: [],
    notes: [],
    missing: exps.length ? null : missingReason(d, ['layerPreservation'], all),
  };
  const panels: VlSpec[] = [];
  for (const e of exps) {
    for (const model of [...new Set(e.summaries.filter((s) => s.metric === 'layer_delta_bpb').map((s) => s.model))]) {
      const langs = languagesWith(d, e, 'layer_delta_bpb', model);
      const row = (l: string) => [
        text(l),
        text(l.startsWith('@') ? groupLabel(l) : groupOf(d.groups, l)),
        metricCell(e, 'layer_delta_bpb', model, l),
        metricCell(e, 'uniform_delta_bpb', model, l),
        derivedCell(overReplicates(e, 'layer_delta_bpb', model, l) - overReplicates(e, 'uniform_delta_bpb', model, l)),
      ];
      fig.tables.push({
        id: `layer-preservation-${e.id}${model ? `-${model}` : ''}`,
        caption: `${e.id}${model ? ` · model ${model}` : ''} · per language`,
        columns: [{ label: 'language', key: true }, { label: 'group' }, { label: 'ΔBPB layer-specific', unit: 'bits/byte', decimals: 'dbpb' }, { label: 'ΔBPB uniform', unit: 'bits/byte', decimals: 'dbpb' }, { label: 'difference', unit: 'bits/byte', decimals: 'dbpb' }],
        rows: [...langs.map(row), ...GROUP_ROWS.filter((g) => summaryOf(e, 'layer_delta_bpb', model, g)).map(row)],
      });
      const sig = metricCell(e, 'diff_significant', model, null);
      fig.tables.push({
        id: `layer-preservation-summary-${e.id}${model ? `-${model}` : ''}`,
        caption: `${e.id}${model ? ` · model ${model}` : ''} · both strategies`,
        columns: [{ label: 'strategy', key: true }, { label: 'bits per weight', unit: 'bits/weight' }, { label: 'ratio ΔBPB', unit: 'ratio' }, { label: 'unstable?' }],
        rows: [
          [text('layer-specific'), metricCell(e, 'layer_bits_per_weight', model, null), metricCell(e, 'layer_ratio_dbpb', model, null), unstableCell(e, 'layer_ratio_dbpb_unstable', model)],
          [text('uniform'), metricCell(e, 'uniform_bits_per_weight', model, null), metricCell(e, 'uniform_ratio_dbpb', model, null), unstableCell(e, 'uniform_ratio_dbpb_unstable', model)],
        ],
      });
      fig.tables.push({
        id: `layer-preservation-diff-${e.id}${model ? `-${model}` : ''}`,
        caption: `${e.id}${model ? ` · model ${model}` : ''} · low-resource mean ΔBPB, layer-specific − uniform`,
        columns: [{ label: 'measure', key: true }, { label: 'difference', unit: 'bits/byte', decimals: 'dbpb' }, { label: `2.5 %${WORST}`, decimals: 'dbpb' }, { label: `97.5 %${WORST}`, decimals: 'dbpb' }, { label: 'significant?' }],
        rows: [[text('low-resource mean ΔBPB'), metricCell(e, 'diff_low_delta_bpb', model, null), metricCell(e, 'diff_low_delta_bpb_lo', model, null), metricCell(e, 'diff_low_delta_bpb_hi', model, null), sig.value === undefined ? sig : { ...sig, worded: true, text: sig.value > 0.5 ? 'yes' : 'no' }]],
      });
      const values = langs.flatMap((l) => [
        { language: l, group: groupOf(d.groups, l), strategy: 'layer-specific', dbpb: overReplicates(e, 'layer_delta_bpb', model, l) },
        { language: l, group: groupOf(d.groups, l), strategy: 'uniform', dbpb: overReplicates(e, 'uniform_delta_bpb', model, l) },
      ]);
      // One panel per resource group, so the groups stay apart without a second colour scale.
      panels.push({
        data: { values },
        title: { text: `ΔBPB with preservation: layer-specific vs uniform — ${model ?? e.id}`, fontSize: 12 },
        facet: { column: { field: 'group', type: 'nominal', title: null, sort: Object.keys(d.groups), header: { labelExpr: "datum.value + '-resource languages'", labelFontSize: 11 } } },
        resolve: { scale: { x: 'independent' } },
        spec: {
          width: { step: 16 },
          height: 210,
          mark: 'bar',
          encoding: {
            x: { field: 'language', type: 'nominal', sort: langs, axis: AXIS_LANG },
            xOffset: { field: 'strategy' },
            y: { field: 'dbpb', type: 'quantitative', title: 'ΔBPB (bits/byte)' },
            color: { field: 'strategy', type: 'nominal', title: 'preservation', scale: { domain: ['layer-specific', 'uniform'], range: ['#228833', '#AAAAAA'] } },
          },
        },
      });
    }
  }
  if (panels.length) fig.chart = panels.length === 1 ? panels[0] : { vconcat: panels };
  return fig;
}

// ---------------------------------------------------------------- 7. cross-model validation

function crossModelFigure(d: ReportData): Figure {
  const all = ofKind(d, 'validate');
  const exps = all.filter((e) => e.summaries.some((s) => s.metric === 'delta_bpb'));
  const fig: Figure = {
    id: 'cross-model',
    title: 'Cross-model validation: per-language ΔBPB of the base model against the other models',
    experiments: all.map((e) => e.id),
    definitions: [
      define('delta_bpb', 'ΔBPB'),
      'ρ: Spearman rank correlation of per-language ΔBPB with the base model, over the study languages (−1 to 1).',
      define('ratio_excludes_1', 'Excludes 1'),
    ],
    chart: null,
    tables: [],
    notes: [],
    missing: null,
  };
  const quantize = ofKind(d, 'quantize').filter(hasResults);
  if (!exps.length || !quantize.length) {
    fig.missing = !exps.length ? missingReason(d, ['validate'], all) : missingReason(d, ['quantize'], ofKind(d, 'quantize'));
    return fig;
  }
  const baseExpOf = (v: ExperimentData) => quantize.find((q) => v.dependsOn.includes(q.id)) ?? quantize[0];
  const base = baseExpOf(exps[0]);
  const baseModel = modelsWith(base, 'delta_bpb')[0] ?? null;
  const others = exps.map((e) => ({ e, model: modelsWith(e, 'delta_bpb')[0] ?? null }));
  const langs = orderLanguages(d, [...new Set([...languagesWith(d, base, 'delta_bpb', baseModel), ...others.flatMap((o) => languagesWith(d, o.e, 'delta_bpb', o.model))])]);
  fig.tables.push({
    id: 'cross-model-languages',
    caption: `ΔBPB (bits/byte) per language: ${baseModel ?? 'base'} (${base.id}) and ${others.map((o) => `${o.model} (${o.e.id})`).join(', ')}`,
    columns: [{ label: 'language', key: true }, { label: 'group' }, { label: `${baseModel ?? 'base'} ΔBPB`, unit: 'bits/byte', decimals: 'dbpb' }, ...others.map((o) => ({ label: `${o.model ?? o.e.id} ΔBPB`, unit: 'bits/byte', decimals: 'dbpb' }))],
    rows: [...langs, ...GROUP_ROWS.filter((g) => summaryOf(base, 'delta_bpb', baseModel, g) || others.some((o) => summaryOf(o.e, 'delta_bpb', o.model, g)))].map((l) => [
      text(l),
      text(l.startsWith('@') ? groupLabel(l) : groupOf(d.groups, l)),
      metricCell(base, 'delta_bpb', baseModel, l),
      ...others.map((o) => metricCell(o.e, 'delta_bpb', o.model, l)),
    ]),
  });
  const corrCell = (e: ExperimentData, m: string, model: string | null) => (summaryOf(e, m, model, null) ? metricCell(e, m, model, null) : metricCell(e, m, null, null));
  fig.tables.push({
    id: 'cross-model-correlation',
    caption: `agreement with ${baseModel ?? 'the base model'}`,
    columns: [{ label: 'model', key: true }, { label: 'experiment' }, { label: 'ρ (Spearman)' }, { label: 'ratio ΔBPB', decimals: 'ratio' }, { label: `2.5 %${WORST}`, decimals: 'ratio' }, { label: `97.5 %${WORST}`, decimals: 'ratio' }, { label: 'interval excludes 1?' }],
    rows: others.map((o) => {
      const ex = corrCell(o.e, 'ratio_excludes_1', o.model);
      return [text(o.model ?? '–'), text(o.e.id), corrCell(o.e, 'rank_corr_delta_bpb', o.model), metricCell(o.e, 'ratio_dbpb', o.model, null), metricCell(o.e, 'ratio_dbpb_lo', o.model, null), metricCell(o.e, 'ratio_dbpb_hi', o.model, null), ex.value === undefined ? ex : { ...ex, worded: true, text: ex.value > 0.5 ? 'yes' : 'no' }];
    }),
  });
  const panels = others.map((o) => {
    const rho = corrCell(o.e, 'rank_corr_delta_bpb', o.model).value;
    const values = langs.map((l) => ({ language: l, group: groupOf(d.groups, l), base: overReplicates(base, 'delta_bpb', baseModel, l), other: overReplicates(o.e, 'delta_bpb', o.model, l) })).filter((v) => Number.isFinite(v.base) && Number.isFinite(v.other));
    const x = { field: 'base', type: 'quantitative', title: `${baseModel ?? 'base'} ΔBPB (bits/byte)` };
    const y = { field: 'other', type: 'quantitative', title: `${o.model ?? o.e.id} ΔBPB (bits/byte)` };
    return {
      data: { values },
      width: 260,
      height: 240,
      title: { text: `${o.model ?? o.e.id} vs ${baseModel ?? 'base'}${rho !== undefined && Number.isFinite(rho) ? ` (ρ = ${rho.toFixed(2)})` : ''}`, fontSize: 12 },
      layer: [
        { mark: { type: 'rule', color: '#999', strokeDash: [2, 2] }, encoding: { x: { datum: 0 } } },
        { mark: { type: 'rule', color: '#999', strokeDash: [2, 2] }, encoding: { y: { datum: 0 } } },
        { mark: { type: 'point', filled: true, size: 60 }, encoding: { x, y, color: colourEncoding(d, langs), tooltip: [{ field: 'language' }, { field: 'base', format: '.4g' }, { field: 'other', format: '.4g' }] } },
        { mark: { type: 'text', dx: 6, align: 'left', fontSize: 9, color: '#333' }, encoding: { x, y, text: { field: 'language' } } },
      ],
    };
  });
  fig.chart = { hconcat: panels };
  return fig;
}

/** Every figure of a report, in the order of issue 9. */
// ---------------------------------------------------------------- 8. methods and calibration language (phase E)

function methodsFigure(d: ReportData): Figure {
  const exps = ofKind(d, 'method');
  const fig: Figure = {
    id: 'methods',
    title: 'Methods and calibration language: GPTQ and AWQ against RTN on the same units',
    experiments: exps.map((e) => e.id),
    definitions: [
      'Each arm quantises on the same grid as RTN (A-002) with calibration text from the named source at an equal token budget (target: each language quantised with its own text).',
      define('gap_reduction', 'Gap reduction'),
      "Intervals: 95 % paired bootstrap over aligned units; over several replicates the worst replicate's.",
    ],
    chart: null,
    tables: [],
    notes: [],
    missing: exps.length ? null : missingReason(d, ['method'], exps),
  };
  if (!exps.length) return fig;
  const rows: Cell[][] = [];
  for (const e of exps) {
    for (const model of [...new Set(e.summaries.filter((s) => s.metric === 'bits_per_weight').map((s) => s.model))]) {
      rows.push([
        text(e.id),
        text(String(e.params.method ?? '–')),
        text(Array.isArray(e.params.calibration) ? (e.params.calibration as string[]).join(', ') : String(e.params.calibration ?? '–')),
        metricCell(e, 'bits_per_weight', model, null),
        metricCell(e, 'delta_bpb', model, LOW),
        metricCell(e, 'delta_bpb', model, HIGH),
        metricCell(e, 'ratio_dbpb', model, null),
        metricCell(e, 'gap_reduction', model, null),
        metricCell(e, 'gap_reduction_lo', model, null),
        metricCell(e, 'gap_reduction_hi', model, null),
      ]);
    }
  }
  fig.tables.push({
    id: 'methods',
    caption: 'mean ΔBPB per group, disparity ratio and gap reduction against RTN',
    columns: [
      { label: 'experiment', key: true },
      { label: 'method' },
      { label: 'calibration' },
      { label: 'bits/weight', decimals: 'bits' },
      { label: 'low ΔBPB', unit: 'bits/byte', decimals: 'dbpb' },
      { label: 'high ΔBPB', unit: 'bits/byte', decimals: 'dbpb' },
      { label: 'ratio ΔBPB', decimals: 'ratio' },
      { label: 'gap reduction', unit: 'bits/byte', decimals: 'dbpb' },
      { label: `2.5 %${WORST}`, decimals: 'dbpb' },
      { label: `97.5 %${WORST}`, decimals: 'dbpb' },
    ],
    rows,
  });
  return fig;
}

export function buildFigures(d: ReportData): Figure[] {
  return [baselineFigure(d), degradationFigure(d), disparityFigure(d), preservationFigure(d), heatmapFigure(d), layerPreservationFigure(d), crossModelFigure(d), methodsFigure(d)];
}
