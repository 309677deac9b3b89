// Figure 7 of the study report (issue 9): cross-model validation.

import { groupOf, summaryOf, type ExperimentData, type ReportData } from '../../report/data.ts';
import { type Figure, text, WORST, metricCell, overReplicates } from '../../report/figure.ts';
import {
  define,
  ofKind,
  hasResults,
  missingReason,
  modelsWith,
  languagesWith,
  orderLanguages,
  GROUP_ROWS,
  groupLabel,
  colourEncoding,
} from './helpers.ts';

// ---------------------------------------------------------------- 7. cross-model validation

export function crossModelFigure(d: ReportData): Figure {
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
    fig.missing = !exps.length
      ? missingReason(d, ['validate'], all)
      : missingReason(d, ['quantize'], ofKind(d, 'quantize'));
    return fig;
  }
  const baseExpOf = (v: ExperimentData) => quantize.find((q) => v.dependsOn.includes(q.id)) ?? quantize[0];
  const base = baseExpOf(exps[0]);
  const baseModel = modelsWith(base, 'delta_bpb')[0] ?? null;
  const others = exps.map((e) => ({ e, model: modelsWith(e, 'delta_bpb')[0] ?? null }));
  const langs = orderLanguages(d, [
    ...new Set([
      ...languagesWith(d, base, 'delta_bpb', baseModel),
      ...others.flatMap((o) => languagesWith(d, o.e, 'delta_bpb', o.model)),
    ]),
  ]);
  fig.tables.push({
    id: 'cross-model-languages',
    caption: `ΔBPB (bits/byte) per language: ${baseModel ?? 'base'} (${base.id}) and ${others.map((o) => `${o.model} (${o.e.id})`).join(', ')}`,
    columns: [
      { label: 'language', key: true },
      { label: 'group' },
      { label: `${baseModel ?? 'base'} ΔBPB`, unit: 'bits/byte', decimals: 'dbpb' },
      ...others.map((o) => ({ label: `${o.model ?? o.e.id} ΔBPB`, unit: 'bits/byte', decimals: 'dbpb' })),
    ],
    rows: [
      ...langs,
      ...GROUP_ROWS.filter(
        (g) =>
          summaryOf(base, 'delta_bpb', baseModel, g) || others.some((o) => summaryOf(o.e, 'delta_bpb', o.model, g)),
      ),
    ].map((l) => [
      text(l),
      text(l.startsWith('@') ? groupLabel(l) : groupOf(d.groups, l)),
      metricCell(base, 'delta_bpb', baseModel, l),
      ...others.map((o) => metricCell(o.e, 'delta_bpb', o.model, l)),
    ]),
  });
  const corrCell = (e: ExperimentData, m: string, model: string | null) =>
    summaryOf(e, m, model, null) ? metricCell(e, m, model, null) : metricCell(e, m, null, null);
  fig.tables.push({
    id: 'cross-model-correlation',
    caption: `agreement with ${baseModel ?? 'the base model'}`,
    columns: [
      { label: 'model', key: true },
      { label: 'experiment' },
      { label: 'ρ (Spearman)' },
      { label: 'ratio ΔBPB', decimals: 'ratio' },
      { label: `2.5 %${WORST}`, decimals: 'ratio' },
      { label: `97.5 %${WORST}`, decimals: 'ratio' },
      { label: 'interval excludes 1?' },
    ],
    rows: others.map((o) => {
      const ex = corrCell(o.e, 'ratio_excludes_1', o.model);
      return [
        text(o.model ?? '–'),
        text(o.e.id),
        corrCell(o.e, 'rank_corr_delta_bpb', o.model),
        metricCell(o.e, 'ratio_dbpb', o.model, null),
        metricCell(o.e, 'ratio_dbpb_lo', o.model, null),
        metricCell(o.e, 'ratio_dbpb_hi', o.model, null),
        ex.value === undefined ? ex : { ...ex, worded: true, text: ex.value > 0.5 ? 'yes' : 'no' },
      ];
    }),
  });
  const panels = others.map((o) => {
    const rho = corrCell(o.e, 'rank_corr_delta_bpb', o.model).value;
    const values = langs
      .map((l) => ({
        language: l,
        group: groupOf(d.groups, l),
        base: overReplicates(base, 'delta_bpb', baseModel, l),
        other: overReplicates(o.e, 'delta_bpb', o.model, l),
      }))
      .filter((v) => Number.isFinite(v.base) && Number.isFinite(v.other));
    const x = { field: 'base', type: 'quantitative', title: `${baseModel ?? 'base'} ΔBPB (bits/byte)` };
    const y = { field: 'other', type: 'quantitative', title: `${o.model ?? o.e.id} ΔBPB (bits/byte)` };
    return {
      data: { values },
      width: 260,
      height: 240,
      title: {
        text: `${o.model ?? o.e.id} vs ${baseModel ?? 'base'}${rho !== undefined && Number.isFinite(rho) ? ` (ρ = ${rho.toFixed(2)})` : ''}`,
        fontSize: 12,
      },
      layer: [
        { mark: { type: 'rule', color: '#999', strokeDash: [2, 2] }, encoding: { x: { datum: 0 } } },
        { mark: { type: 'rule', color: '#999', strokeDash: [2, 2] }, encoding: { y: { datum: 0 } } },
        {
          mark: { type: 'point', filled: true, size: 60 },
          encoding: {
            x,
            y,
            color: colourEncoding(d, langs),
            tooltip: [{ field: 'language' }, { field: 'base', format: '.4g' }, { field: 'other', format: '.4g' }],
          },
        },
        {
          mark: { type: 'text', dx: 6, align: 'left', fontSize: 9, color: '#333' },
          encoding: { x, y, text: { field: 'language' } },
        },
      ],
    };
  });
  fig.chart = { hconcat: panels };
  return fig;
}
