// Figure 3 of the study report (issue 9): the low/high disparity ratio per model, with its interval.

import { summaryOf, type ReportData } from '../../report/data.ts';
import { type Cell, type Figure, text, WORST, metricCell, overReplicates } from '../../report/figure.ts';
import { unit, define, ofKind, missingReason, stateColour, unstableCell } from './helpers.ts';

// ---------------------------------------------------------------- 3. disparity ratio per model

export function disparityFigure(d: ReportData): Figure {
  const all = [...ofKind(d, 'disparity'), ...ofKind(d, 'validate')];
  const exps = all.filter((e) => e.summaries.some((s) => s.metric === 'ratio_dbpb'));
  const fig: Figure = {
    id: 'disparity',
    title: 'Disparity ratio (low-resource / high-resource mean degradation) per model',
    experiments: all.map((e) => e.id),
    definitions: [
      define('ratio_dbpb', 'Ratio (ΔBPB)'),
      define('ratio_ppl', 'Ratio (PPL)'),
      "Intervals: 95 % paired bootstrap over aligned text units; over several replicates the worst replicate's (smallest lower, largest upper bound). A ratio is unstable — not a number to report — when the high-resource mean is ≤ 0 or its interval contains 0; 1 means no disparity (dashed line).",
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
      for (const [measure, m] of [
        ['ΔBPB', 'ratio_dbpb'],
        ['relative PPL increase', 'ratio_ppl'],
      ] as const) {
        if (!summaryOf(e, m, model, null)) continue;
        const unstable = overReplicates(e, `${m}_unstable`, model, null) > 0;
        values.push({
          model: `${model ?? '–'} (${e.id})`,
          measure,
          ratio: overReplicates(e, m, model, null),
          lo: overReplicates(e, `${m}_lo`, model, null),
          hi: overReplicates(e, `${m}_hi`, model, null),
          state: unstable ? 'unstable' : 'stable',
        });
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
    for (const model of [
      ...new Set(e.summaries.filter((s) => s.metric === 'ratio_dbpb_lang_lo').map((s) => s.model)),
    ]) {
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
      {
        mark: { type: 'rule', strokeWidth: 2 },
        encoding: { x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' }, color: stateColour },
      },
      {
        mark: { type: 'point', filled: true, size: 70 },
        encoding: {
          x: { field: 'ratio', type: 'quantitative', title: 'low / high mean degradation', scale: { zero: true } },
          color: stateColour,
          shape: { field: 'state', type: 'nominal', title: 'ratio' },
        },
      },
    ],
  });
  fig.chart = { data: { values }, hconcat: [panel('ΔBPB'), panel('relative PPL increase')] };
  return fig;
}
