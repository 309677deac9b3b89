// Figure 2 of the study report (issue 9): degradation under INT4 per language, with intervals.

import { groupOf, summaryOf, type ExperimentData, type ReportData } from '../../report/data.ts';
import type { VlSpec } from '../../report/charts.ts';
import { type Figure, formatNumber, text, WORST, metricCell, overReplicates } from '../../report/figure.ts';
import {
  unit,
  define,
  ofKind,
  hasResults,
  missingReason,
  modelsWith,
  languagesWith,
  GROUP_ROWS,
  groupLabel,
  AXIS_LANG,
  colourEncoding,
} from './helpers.ts';

// ---------------------------------------------------------------- 2. degradation under INT4

function settingOf(e: ExperimentData): string {
  const p = e.params;
  const parts = [
    p.bits !== undefined ? `INT${p.bits}` : null,
    typeof p.scheme === 'string' ? p.scheme : null,
    p.groupSize !== undefined ? `group ${p.groupSize}` : null,
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : 'quantised';
}

function errorBarLayer(
  field: string,
  lo: string,
  hi: string,
  langs: string[],
  title: string,
  d: ReportData,
  model: string,
) {
  // Bars with the bootstrap interval as a rule from lo to hi, and a line at 0.
  return {
    width: Math.max(220, langs.length * 16),
    height: 200,
    title: { text: `${title} — ${model}`, fontSize: 12 },
    encoding: { x: { field: 'language', type: 'nominal', sort: langs, axis: AXIS_LANG } },
    layer: [
      { mark: 'bar', encoding: { y: { field, type: 'quantitative', title }, color: colourEncoding(d, langs) } },
      {
        mark: { type: 'rule', color: '#222', strokeWidth: 1.2 },
        encoding: { y: { field: lo, type: 'quantitative' }, y2: { field: hi } },
      },
      { mark: { type: 'rule', color: '#555', strokeDash: [3, 3] }, encoding: { y: { datum: 0 } } },
    ],
  };
}

export function degradationFigure(d: ReportData): Figure {
  const all = ofKind(d, 'quantize');
  const exps = all.filter(hasResults);
  const fig: Figure = {
    id: 'degradation',
    title: 'Degradation per language under quantisation (ΔBPB and relative perplexity increase)',
    experiments: all.map((e) => e.id),
    definitions: [
      define('delta_bpb', 'ΔBPB'),
      "Interval: 95 % bootstrap interval of ΔBPB from resampling the language's aligned text units (UDHR articles); error bars in the chart. Over several replicates it is the worst replicate's: the smallest lower and the largest upper bound, not a mean of bounds.",
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
    if (bits)
      fig.notes.push(
        `${e.id} (${settingOf(e)}): ${formatNumber(bits.mean)} effective bits per weight, everything counted.`,
      );
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
      panels.push({
        data: { values },
        hconcat: [errorBarLayer('dbpb', 'lo', 'hi', langs, 'ΔBPB (bits/byte)', d, model), rel],
      });
    }
  }
  if (panels.length) fig.chart = panels.length === 1 ? panels[0] : { vconcat: panels };
  return fig;
}
