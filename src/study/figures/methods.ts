// Figure 8 of the study report (issue 13): phase E — GPTQ and AWQ against RTN on the same units, and the
// language of the calibration text; per arm the group means of ΔBPB, the disparity ratio and the gap
// reduction against RTN (paired interval); per language the ΔBPB of every arm (a table, and grouped bars
// by language in one column per resource group: the methods beside RTN, then the calibration sources).

import { groupOf, summaryOf, type ExperimentData, type ReportData } from '../../report/data.ts';
import type { VlSpec } from '../../report/charts.ts';
import { type Cell, type Figure, text, WORST, metricCell, overReplicates } from '../../report/figure.ts';
import { HIGH, LOW } from '../metrics.ts';
import { AXIS_LANG, define, GROUP_ROWS, groupLabel, ofKind, missingReason, orderLanguages } from './helpers.ts';

interface Arm {
  readonly e: ExperimentData;
  /** 'RTN', or the method and its calibration source, e.g. 'GPTQ high'. */
  readonly label: string;
  readonly method: string;
  readonly source: string | null;
}

const sourceOf = (e: ExperimentData): string =>
  Array.isArray(e.params.calibration)
    ? (e.params.calibration as string[]).join(',')
    : String(e.params.calibration ?? 'all');

/** Colours by arm: RTN grey; a calibration source keeps one colour across methods (high and low as their groups). */
function armColour(a: Arm, k: number): string {
  if (a.source === null) return '#AAAAAA';
  const bySource: Record<string, string> = { all: '#228833', high: '#4477AA', low: '#EE6677', target: '#AA3377' };
  if (a.method === 'awq' && a.source === 'all') return '#CCBB44';
  return bySource[a.source] ?? ['#66CCEE', '#BBBBBB', '#000000'][k % 3];
}

/** The per-language ΔBPB of RTN and of every method arm of one model: a table and the chart's panels. */
function perLanguage(d: ReportData, fig: Figure, exps: ExperimentData[], model: string): VlSpec[] {
  const arms: Arm[] = [];
  const baselineIds = [...new Set(exps.map((e) => String(e.params.baseline ?? 'A-002')))];
  for (const id of baselineIds) {
    const b = d.experiments.find(
      (e) => e.id === id && e.summaries.some((s) => s.metric === 'delta_bpb' && s.model === model),
    );
    if (b) arms.push({ e: b, label: baselineIds.length > 1 ? `RTN (${b.id})` : 'RTN', method: 'rtn', source: null });
  }
  for (const e of exps) {
    if (!e.summaries.some((s) => s.metric === 'delta_bpb' && s.model === model)) continue;
    const label = `${String(e.params.method ?? '?').toUpperCase()} ${sourceOf(e)}`;
    arms.push({
      e,
      label: arms.some((a) => a.label === label) ? `${label} (${e.id})` : label,
      method: String(e.params.method),
      source: sourceOf(e),
    });
  }
  if (arms.every((a) => a.source === null)) return [];
  const langs = orderLanguages(d, [
    ...new Set(
      arms.flatMap((a) =>
        a.e.summaries
          .filter(
            (s) => s.metric === 'delta_bpb' && s.model === model && s.language !== null && !s.language.startsWith('@'),
          )
          .map((s) => s.language!),
      ),
    ),
  ]);
  const row = (l: string): Cell[] => [
    text(l),
    text(l.startsWith('@') ? groupLabel(l) : groupOf(d.groups, l)),
    ...arms.map((a) => metricCell(a.e, 'delta_bpb', model, l)),
  ];
  const armList = arms.map((a) => `${a.label}: ${a.e.id}`).join(', ');
  fig.tables.push({
    id: `methods-languages-${model}`,
    caption: `ΔBPB per language under each arm · model ${model} (${armList})`,
    columns: [
      { label: 'language', key: true },
      { label: 'group' },
      ...arms.map((a) => ({ label: `ΔBPB ${a.label}`, unit: 'bits/byte', decimals: 'dbpb' })),
    ],
    rows: [
      ...langs.map(row),
      ...GROUP_ROWS.filter((g) => arms.some((a) => summaryOf(a.e, 'delta_bpb', model, g))).map(row),
    ],
  });
  const colour = new Map(arms.map((a, k) => [a.label, armColour(a, k)]));
  const panel = (title: string, chosen: Arm[]): VlSpec => ({
    data: {
      values: chosen
        .flatMap((a) =>
          langs.map((l) => ({
            language: l,
            group: groupOf(d.groups, l),
            arm: a.label,
            dbpb: overReplicates(a.e, 'delta_bpb', model, l),
          })),
        )
        .filter((v) => Number.isFinite(v.dbpb)),
    },
    title: { text: `${title} — ${model}`, fontSize: 12 },
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
      // The step is per bar (xOffset band): a language is as wide as its arms.
      width: { step: 9 },
      height: 210,
      layer: [
        {
          mark: 'bar',
          encoding: {
            x: { field: 'language', type: 'nominal', sort: langs, axis: AXIS_LANG },
            xOffset: { field: 'arm', sort: chosen.map((a) => a.label) },
            y: { field: 'dbpb', type: 'quantitative', title: 'ΔBPB (bits/byte)' },
            // One colour scale for every panel (vconcat shares it): each arm keeps its colour throughout.
            color: {
              field: 'arm',
              type: 'nominal',
              title: 'arm',
              scale: { domain: arms.map((a) => a.label), range: arms.map((a) => colour.get(a.label)!) },
            },
          },
        },
        { mark: { type: 'rule', color: '#555', strokeDash: [3, 3] }, encoding: { y: { datum: 0 } } },
      ],
    },
  });
  const rtn = arms.filter((a) => a.source === null);
  const methods = [...rtn, ...arms.filter((a) => a.source === 'all')];
  const panels: VlSpec[] = [];
  if (methods.length > rtn.length) panels.push(panel('ΔBPB by method (calibration all)', methods));
  // Calibration sources: the arms of each method that was calibrated on more than one source.
  for (const method of [...new Set(arms.filter((a) => a.source !== null).map((a) => a.method))]) {
    const of = arms.filter((a) => a.method === method);
    if (of.length > 1) panels.push(panel(`ΔBPB by calibration language (${method.toUpperCase()})`, [...rtn, ...of]));
  }
  return panels;
}

export function methodsFigure(d: ReportData): Figure {
  const exps = ofKind(d, 'method');
  const fig: Figure = {
    id: 'methods',
    title: 'Methods and calibration language: GPTQ and AWQ against RTN on the same units',
    experiments: exps.map((e) => e.id),
    definitions: [
      'Each arm quantises on the same grid as RTN (A-002) with calibration text from the named source at an equal token budget (target: each language quantised with its own text).',
      'Per language: the ΔBPB of RTN and of every arm on the same evaluation units (mean over replicates); ' +
        'the chart groups the bars by language, one column per resource group.',
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
        text(
          Array.isArray(e.params.calibration)
            ? (e.params.calibration as string[]).join(', ')
            : String(e.params.calibration ?? '–'),
        ),
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
  const models = [
    ...new Set(
      exps.flatMap((e) => e.summaries.filter((s) => s.metric === 'delta_bpb' && s.model !== null).map((s) => s.model!)),
    ),
  ].sort();
  const panels = models.flatMap((m) => perLanguage(d, fig, exps, m));
  if (panels.length)
    fig.chart = panels.length === 1 ? panels[0] : { vconcat: panels, resolve: { scale: { xOffset: 'independent' } } };
  return fig;
}
