// Figure 5 of the study report (issue 9): the block × language heatmap of ΔBPB.

import { parseLayerMetric } from '../metrics.ts';
import { groupOf, summaryOf, type ReportData } from '../../report/data.ts';
import type { VlSpec } from '../../report/charts.ts';
import { type Figure, formatNumber, text, metricCell, overReplicates } from '../../report/figure.ts';
import { define, ofKind, missingReason, orderLanguages, GROUP_ROWS, groupLabel } from './helpers.ts';

// ---------------------------------------------------------------- 5. block × language heatmap

export function heatmapFigure(d: ReportData): Figure {
  const all = ofKind(d, 'layerSensitivity');
  const exps = all.filter((e) => e.summaries.some((s) => parseLayerMetric(s.metric)?.field === 'delta_bpb'));
  const fig: Figure = {
    id: 'layer-sensitivity',
    title: 'Block × language sensitivity: ΔBPB when one block alone is quantised',
    experiments: all.map((e) => e.id),
    definitions: [
      "Cell: ΔBPB (bits/byte) of the language when only that transformer block's linear weights are quantised and every other weight stays at full precision.",
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
    const models = [
      ...new Set(e.summaries.filter((s) => parseLayerMetric(s.metric)?.field === 'delta_bpb').map((s) => s.model)),
    ];
    for (const model of models) {
      const cells = e.summaries.filter(
        (s) => s.model === model && parseLayerMetric(s.metric)?.field === 'delta_bpb' && s.language !== null,
      );
      const layers = [...new Set(cells.map((s) => parseLayerMetric(s.metric)!.layer))].sort((a, b) => a - b);
      const langs = [
        ...orderLanguages(d, [...new Set(cells.map((s) => s.language!).filter((l) => !l.startsWith('@')))]),
        ...GROUP_ROWS.filter((g) => cells.some((s) => s.language === g)),
      ];
      const critical = new Set(
        layers.filter(
          (i) =>
            overReplicates(e, `layer${i}_critical`, model, null) > 0.5 ||
            overReplicates(e, `layer${i}_critical`, null, null) > 0.5,
        ),
      );
      fig.tables.push({
        id: `layer-sensitivity-${e.id}${model ? `-${model}` : ''}`,
        caption: `${e.id}${model ? ` · model ${model}` : ''} · ΔBPB (bits/byte) by quantised block`,
        columns: [
          { label: 'language', key: true },
          { label: 'group' },
          ...layers.map((i) => ({ label: `block ${i}${critical.has(i) ? ' ★' : ''}`, decimals: 'dbpb' })),
          { label: 'most sensitive block' },
        ],
        rows: langs.map((l) => [
          text(l),
          text(l.startsWith('@') ? groupLabel(l) : groupOf(d.groups, l)),
          ...layers.map((i) => metricCell(e, `layer${i}_delta_bpb`, model, l)),
          metricCell(e, 'critical_layer', model, l),
        ]),
      });
      const values = cells.map((s) => ({
        language: s.language,
        block: parseLayerMetric(s.metric)!.layer,
        dbpb: s.n > 0 ? s.mean : null,
      }));
      // A symmetric domain, so equal colour depth means equal |ΔBPB| on either side of 0.
      const reach = Math.max(
        1e-12,
        ...values.map((v) => (v.dbpb !== null && Number.isFinite(v.dbpb) ? Math.abs(v.dbpb) : 0)),
      );
      panels.push({
        data: { values },
        width: Math.max(200, layers.length * 44),
        height: { step: 20 },
        title: { text: `ΔBPB (bits/byte) with one block quantised — ${model ?? e.id}`, fontSize: 12 },
        layer: [
          {
            mark: { type: 'rect' },
            encoding: {
              x: {
                field: 'block',
                type: 'ordinal',
                title: 'quantised block (★ critical)',
                sort: layers,
                axis: {
                  labelAngle: 0,
                  labelExpr: `indexof([${[...critical].join(',')}], datum.value) >= 0 ? datum.value + ' ★' : '' + datum.value`,
                },
              },
              y: { field: 'language', type: 'nominal', sort: langs, title: 'language' },
              // ΔBPB can be negative (quantisation helped): a diverging scale with white at 0, red worse, blue better.
              color: {
                field: 'dbpb',
                type: 'quantitative',
                title: 'ΔBPB',
                scale: { scheme: 'redblue', reverse: true, domain: [-reach, reach] },
              },
            },
          },
        ],
      });
    }
    const rho =
      summaryOf(e, 'profile_rank_corr', null, null) ?? e.summaries.find((s) => s.metric === 'profile_rank_corr');
    if (rho)
      fig.notes.push(
        `${e.id}: rank correlation of the high- and low-resource sensitivity profiles across blocks ρ = ${formatNumber(rho.mean)}.`,
      );
  }
  if (panels.length) fig.chart = panels.length === 1 ? panels[0] : { vconcat: panels };
  return fig;
}
