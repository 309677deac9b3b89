// Figure 4 of the study report (issue 9): the preservation curve, and preservation against its controls (B-011).

import { HIGH, LOW, controlMetric, parseControlMetric, parseCurveMetric, type ControlField } from '../metrics.ts';
import { summaryOf, type ExperimentData, type ReportData } from '../../report/data.ts';
import { GROUP_COLOURS, type VlSpec } from '../../report/charts.ts';
import { type Cell, type Figure, formatNumber, text, WORST, metricCell, overReplicates } from '../../report/figure.ts';
import { define, ofKind, missingReason, unstableCell } from './helpers.ts';

// ---------------------------------------------------------------- 4. preservation curve

/** The experiment that measured the disparity ratio of a curve point: a dependency of `e` (the
 *  disparity experiment for p = 0, the preserve experiment with that share) for the same model. */
function stabilitySource(
  d: ReportData,
  e: ExperimentData,
  p: number,
  model: string | null,
): ExperimentData | undefined {
  const deps = d.experiments.filter(
    (x) => e.dependsOn.includes(x.id) && summaryOf(x, 'ratio_dbpb_unstable', model, null),
  );
  if (p === 0) return deps.find((x) => x.kind === 'disparity');
  return deps.find(
    (x) => x.kind === 'preserve' && typeof x.params.share === 'number' && Math.abs(x.params.share - p) < 1e-6,
  );
}

export function preservationFigure(d: ReportData): Figure {
  const all = ofKind(d, 'optimalPreservation');
  const exps = all.filter((e) => e.summaries.some((s) => parseCurveMetric(s.metric)));
  const fig: Figure = {
    id: 'preservation',
    title: 'Preservation curve: degradation of each group and disparity against effective bits per weight',
    experiments: all.map((e) => e.id),
    definitions: [
      'Share p: share of the quantised weights kept in full precision (p = 0: plain quantisation).',
      define('bits_per_weight', 'Bits per weight'),
      "ΔBPB per group: mean ΔBPB over the group's languages (bits/byte). Ratio: low / high mean ΔBPB.",
      define('optimal_share', 'Optimal share') +
        ' The rule: the smallest share reaching the target fraction of the largest measured reduction in low-resource mean ΔBPB.',
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
        return high !== undefined && overReplicates(e, high, model, HIGH) <= 0
          ? { text: 'unstable (high-resource mean ≤ 0)', value: 1, derived: true, worded: true }
          : text('–');
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
        rows: shares.map((p) => [
          text(formatNumber(p * 100)),
          cell(p, 'bits_per_weight', null),
          cell(p, 'delta_bpb', HIGH),
          cell(p, 'delta_bpb', LOW),
          cell(p, 'ratio_dbpb', null),
          stability(p),
        ]),
      });
      const optShare = overReplicates(e, 'optimal_share', model, null);
      const optBits = overReplicates(e, 'optimal_bits_per_weight', model, null);
      if (Number.isFinite(optShare)) {
        fig.notes.push(
          `${e.id}: optimal share ${formatNumber(optShare * 100)} % at ${formatNumber(optBits)} bits per weight` +
            (Number.isFinite(overReplicates(e, 'optimal_reduction_share', model, null))
              ? `, reaching ${formatNumber(overReplicates(e, 'optimal_reduction_share', model, null) * 100)} % of the largest reduction (target ${formatNumber(overReplicates(e, 'target_fraction', model, null) * 100)} %).`
              : '.'),
        );
      }
      if (unstableAt.size)
        fig.notes.push(
          `${e.id}: the disparity ratio at ${[...unstableAt].map((p) => `p = ${formatNumber(p * 100)} %`).join(', ')} is unstable (the high-resource mean ΔBPB is ≤ 0 or its interval contains 0), so it is not drawn.`,
        );
      const num = (p: number, f: string, l: string | null) => {
        const name = byShare.get(p)!.get(`${f}|${l ?? ''}`);
        return name ? overReplicates(e, name, model, l) : NaN;
      };
      const optimal = (p: number) => Number.isFinite(optShare) && Math.abs(p - optShare) < 0.005;
      const values: Record<string, unknown>[] = [];
      for (const p of shares) {
        const bits = num(p, 'bits_per_weight', null);
        const share = `${formatNumber(p * 100)} %`;
        for (const [g, label] of [
          [HIGH, 'high'],
          [LOW, 'low'],
        ] as const)
          values.push({ series: 'group', group: label, share, bits, dbpb: num(p, 'delta_bpb', g) });
        if (!unstableAt.has(p)) values.push({ series: 'ratio', share, bits, ratio: num(p, 'ratio_dbpb', null) });
        // One label per share in a strip above the plot, where it cannot cover a point.
        values.push({ series: 'label', bits, label: optimal(p) ? `${share} ★` : share, optimal: optimal(p) });
      }
      const xBits = { field: 'bits', type: 'quantitative', title: 'effective bits per weight', scale: { zero: false } };
      const labelLayers = [
        ...(Number.isFinite(optBits)
          ? [
              {
                data: { values: [{ bits: optBits }] },
                mark: { type: 'rule', strokeDash: [5, 3], color: '#2E7D32', strokeWidth: 1.5 },
                encoding: { x: { field: 'bits', type: 'quantitative' } },
              },
            ]
          : []),
        {
          transform: [{ filter: { field: 'series', equal: 'label' } }],
          mark: { type: 'text', baseline: 'bottom', fontSize: 10 },
          encoding: {
            x: xBits,
            y: { value: -4 },
            text: { field: 'label' },
            color: { condition: { test: 'datum.optimal', value: '#2E7D32' }, value: '#444444' },
          },
        },
      ];
      const subtitle = [
        'share p kept in full precision above each point',
        ...(Number.isFinite(optShare) ? ['★ and dashed line: the optimal share'] : []),
      ];
      const groups = {
        width: 300,
        height: 220,
        title: {
          text: `mean ΔBPB per group — ${model ?? e.id}`,
          subtitle,
          fontSize: 12,
          subtitleFontSize: 10,
          subtitleColor: '#555',
          offset: 18,
        },
        layer: [
          { mark: { type: 'rule', color: '#999', strokeDash: [2, 2] }, encoding: { y: { datum: 0 } } },
          {
            transform: [{ filter: { field: 'series', equal: 'group' } }],
            mark: { type: 'line', point: { filled: true, size: 50 } },
            encoding: {
              x: xBits,
              y: { field: 'dbpb', type: 'quantitative', title: 'mean ΔBPB (bits/byte)' },
              color: {
                field: 'group',
                type: 'nominal',
                title: 'resource group',
                scale: { domain: ['high', 'low'], range: [GROUP_COLOURS.high, GROUP_COLOURS.low] },
              },
              tooltip: [{ field: 'share' }, { field: 'bits', format: '.3f' }, { field: 'dbpb', format: '.4g' }],
            },
          },
          ...labelLayers,
        ],
      };
      const ratio = {
        width: 300,
        height: 220,
        title: {
          text: `disparity ratio (ΔBPB) — ${model ?? e.id}`,
          subtitle: ['dashed at 1: no disparity', ...(unstableAt.size ? ['unstable ratios are not drawn'] : [])],
          fontSize: 12,
          subtitleFontSize: 10,
          subtitleColor: '#555',
          offset: 18,
        },
        layer: [
          { mark: { type: 'rule', strokeDash: [4, 3], color: '#999' }, encoding: { y: { datum: 1 } } },
          {
            transform: [{ filter: { field: 'series', equal: 'ratio' } }],
            mark: { type: 'line', color: '#444', point: { filled: true, color: '#444', size: 50 } },
            encoding: {
              x: xBits,
              y: { field: 'ratio', type: 'quantitative', title: 'low / high mean ΔBPB', scale: { zero: true } },
            },
          },
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
      const shares = [
        ...new Set(
          e.summaries
            .map((s) => parseControlMetric(s.metric))
            .filter((c) => c?.field === 'share')
            .map((c) => c!.share),
        ),
      ].sort((a, b) => a - b);
      const m = (share: number, field: ControlField) => metricCell(e, controlMetric(share, field), model, null);
      const rows = shares.map((p) => [
        text(`${Number((p * 100).toFixed(2))} %`),
        m(p, 'bits_per_weight'),
        m(p, 'rtn_bits_per_weight'),
        m(p, 'vs_rtn'),
        m(p, 'vs_rtn_lo'),
        m(p, 'vs_rtn_hi'),
        m(p, 'vs_random'),
        m(p, 'vs_random_lo'),
        m(p, 'vs_random_hi'),
        m(p, 'gap_narrowing'),
        m(p, 'gap_narrowing_lo'),
        m(p, 'gap_narrowing_hi'),
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
          { label: '− RTN', unit: 'bits/byte', decimals: 'dbpb' },
          { label: `2.5 %${WORST}`, decimals: 'dbpb' },
          { label: `97.5 %${WORST}`, decimals: 'dbpb' },
          { label: '− random', unit: 'bits/byte', decimals: 'dbpb' },
          { label: `2.5 %${WORST}`, decimals: 'dbpb' },
          { label: `97.5 %${WORST}`, decimals: 'dbpb' },
          { label: 'gap narrowing', unit: 'bits/byte', decimals: 'dbpb' },
          { label: `2.5 %${WORST}`, decimals: 'dbpb' },
          { label: `97.5 %${WORST}`, decimals: 'dbpb' },
        ],
        rows,
      });
    }
  }
}
