// Figure 8 of the study report (issue 13): phase E — GPTQ and AWQ against RTN on the same units, and the
// language of the calibration text; per arm the group means of ΔBPB, the disparity ratio and the gap
// reduction against RTN (paired interval).

import type { ReportData } from '../../report/data.ts';
import { type Cell, type Figure, text, WORST, metricCell } from '../../report/figure.ts';
import { HIGH, LOW } from '../metrics.ts';
import { define, ofKind, missingReason } from './helpers.ts';

export function methodsFigure(d: ReportData): Figure {
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
