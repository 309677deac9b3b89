// Figure 1 of the study report (issue 9): full-precision bits per byte per language and model.

import { groupOf, summaryOf, type ReportData } from '../../report/data.ts';
import type { VlSpec } from '../../report/charts.ts';
import { type Figure, text, metricCell, overReplicates } from '../../report/figure.ts';
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

// ---------------------------------------------------------------- 1. baseline

export function baselineFigure(d: ReportData): Figure {
  const all = ofKind(d, 'baseline');
  const exps = all.filter(hasResults);
  const fig: Figure = {
    id: 'baseline',
    title: 'Baseline: bits per byte and token perplexity per language (full precision)',
    experiments: all.map((e) => e.id),
    definitions: [
      define('bpb', 'BPB'),
      define('ppl', 'PPL'),
      "Scored tokens: every token of a language's evaluation text except the first of each unit (it has no context); long text is scored in windows, each token once.",
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
          ...langs.map((l) => [
            text(l),
            text(groupOf(d.groups, l)),
            metricCell(e, 'bpb', model, l),
            metricCell(e, 'ppl', model, l),
            metricCell(e, 'bpc', model, l),
            metricCell(e, 'tokens', model, l),
            metricCell(e, 'bytes', model, l),
          ]),
          ...GROUP_ROWS.filter((g) => summaryOf(e, 'bpb', model, g)).map((g) => [
            text(g),
            text(groupLabel(g)),
            metricCell(e, 'bpb', model, g),
            metricCell(e, 'ppl', model, g),
            text(''),
            text(''),
            text(''),
          ]),
        ],
      });
      const values = langs.map((l) => ({
        language: l,
        group: groupOf(d.groups, l),
        bpb: overReplicates(e, 'bpb', model, l),
        ppl: overReplicates(e, 'ppl', model, l),
      }));
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
