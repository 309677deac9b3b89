// Figure 6 of the study report (issue 9): layer-specific against uniform preservation.

import { groupOf, summaryOf, type ReportData } from '../../report/data.ts';
import type { VlSpec } from '../../report/charts.ts';
import { type Figure, text, WORST, metricCell, derivedCell, overReplicates } from '../../report/figure.ts';
import {
  define,
  ofKind,
  missingReason,
  languagesWith,
  GROUP_ROWS,
  groupLabel,
  AXIS_LANG,
  unstableCell,
} from './helpers.ts';

// ---------------------------------------------------------------- 6. layer-specific against uniform preservation

export function layerPreservationFigure(d: ReportData): Figure {
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
      define('diff_low_delta_bpb', 'Low-resource difference') +
        ' Significant when its 95 % paired bootstrap interval excludes 0.',
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
        columns: [
          { label: 'language', key: true },
          { label: 'group' },
          { label: 'ΔBPB layer-specific', unit: 'bits/byte', decimals: 'dbpb' },
          { label: 'ΔBPB uniform', unit: 'bits/byte', decimals: 'dbpb' },
          { label: 'difference', unit: 'bits/byte', decimals: 'dbpb' },
        ],
        rows: [...langs.map(row), ...GROUP_ROWS.filter((g) => summaryOf(e, 'layer_delta_bpb', model, g)).map(row)],
      });
      const sig = metricCell(e, 'diff_significant', model, null);
      fig.tables.push({
        id: `layer-preservation-summary-${e.id}${model ? `-${model}` : ''}`,
        caption: `${e.id}${model ? ` · model ${model}` : ''} · both strategies`,
        columns: [
          { label: 'strategy', key: true },
          { label: 'bits per weight', unit: 'bits/weight' },
          { label: 'ratio ΔBPB', unit: 'ratio' },
          { label: 'unstable?' },
        ],
        rows: [
          [
            text('layer-specific'),
            metricCell(e, 'layer_bits_per_weight', model, null),
            metricCell(e, 'layer_ratio_dbpb', model, null),
            unstableCell(e, 'layer_ratio_dbpb_unstable', model),
          ],
          [
            text('uniform'),
            metricCell(e, 'uniform_bits_per_weight', model, null),
            metricCell(e, 'uniform_ratio_dbpb', model, null),
            unstableCell(e, 'uniform_ratio_dbpb_unstable', model),
          ],
        ],
      });
      fig.tables.push({
        id: `layer-preservation-diff-${e.id}${model ? `-${model}` : ''}`,
        caption: `${e.id}${model ? ` · model ${model}` : ''} · low-resource mean ΔBPB, layer-specific − uniform`,
        columns: [
          { label: 'measure', key: true },
          { label: 'difference', unit: 'bits/byte', decimals: 'dbpb' },
          { label: `2.5 %${WORST}`, decimals: 'dbpb' },
          { label: `97.5 %${WORST}`, decimals: 'dbpb' },
          { label: 'significant?' },
        ],
        rows: [
          [
            text('low-resource mean ΔBPB'),
            metricCell(e, 'diff_low_delta_bpb', model, null),
            metricCell(e, 'diff_low_delta_bpb_lo', model, null),
            metricCell(e, 'diff_low_delta_bpb_hi', model, null),
            sig.value === undefined ? sig : { ...sig, worded: true, text: sig.value > 0.5 ? 'yes' : 'no' },
          ],
        ],
      });
      const values = langs.flatMap((l) => [
        {
          language: l,
          group: groupOf(d.groups, l),
          strategy: 'layer-specific',
          dbpb: overReplicates(e, 'layer_delta_bpb', model, l),
        },
        {
          language: l,
          group: groupOf(d.groups, l),
          strategy: 'uniform',
          dbpb: overReplicates(e, 'uniform_delta_bpb', model, l),
        },
      ]);
      // One panel per resource group, so the groups stay apart without a second colour scale.
      panels.push({
        data: { values },
        title: { text: `ΔBPB with preservation: layer-specific vs uniform — ${model ?? e.id}`, fontSize: 12 },
        facet: {
          column: {
            field: 'group',
            type: 'nominal',
            title: null,
            sort: Object.keys(d.groups),
            header: { labelExpr: "datum.value + '-resource languages'", labelFontSize: 11 },
          },
        },
        resolve: { scale: { x: 'independent' } },
        spec: {
          width: { step: 16 },
          height: 210,
          mark: 'bar',
          encoding: {
            x: { field: 'language', type: 'nominal', sort: langs, axis: AXIS_LANG },
            xOffset: { field: 'strategy' },
            y: { field: 'dbpb', type: 'quantitative', title: 'ΔBPB (bits/byte)' },
            color: {
              field: 'strategy',
              type: 'nominal',
              title: 'preservation',
              scale: { domain: ['layer-specific', 'uniform'], range: ['#228833', '#AAAAAA'] },
            },
          },
        },
      });
    }
  }
  if (panels.length) fig.chart = panels.length === 1 ? panels[0] : { vconcat: panels };
  return fig;
}
