// What the study's figures share: metric units and definitions from the study's catalogue
// (src/study/metrics.ts), picking experiments and languages, group rows and colours.

import { describeMetric, HIGH, LOW } from '../metrics.ts';
import { groupOf, type ExperimentData, type ReportData } from '../../report/data.ts';
import { groupColour } from '../../report/charts.ts';
import { type Cell, formatNumber, metricCell } from '../../report/figure.ts';

export function unit(metric: string): string | undefined {
  return describeMetric(metric)?.unit;
}

export function define(metric: string, label: string): string {
  const d = describeMetric(metric);
  return d ? `${label}: ${d.doc} (${d.unit}).` : `${label}.`;
}

// ---------------------------------------------------------------- selection helpers

export const ofKind = (d: ReportData, kind: string) => d.experiments.filter((e) => e.kind === kind);
export const hasResults = (e: ExperimentData) => e.summaries.length > 0;

export function missingReason(d: ReportData, kinds: string[], found: ExperimentData[]): string {
  if (found.length === 0)
    return `the pipeline of this run has no ${kinds.map((k) => `\`${k}\``).join(' or ')} experiment, so there is nothing to show`;
  const why = found.map((e) => `${e.id} is ${e.status}${e.reason ? ` (${e.reason})` : ''}`).join('; ');
  return `no results yet: ${why}. Run the pipeline (langquant run) and report again`;
}

export function modelsWith(e: ExperimentData, metric: string): string[] {
  return [...new Set(e.summaries.filter((s) => s.metric === metric && s.model !== null).map((s) => s.model!))].sort();
}

/** Languages (not @groups) with a row of `metric`, ordered by group (as the pipeline lists groups), then code. */
export function languagesWith(d: ReportData, e: ExperimentData, metric: string, model: string | null): string[] {
  const langs = [
    ...new Set(
      e.summaries
        .filter((s) => s.metric === metric && s.model === model && s.language !== null && !s.language.startsWith('@'))
        .map((s) => s.language!),
    ),
  ];
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

export const GROUP_ROWS = [HIGH, LOW];
export const groupLabel = (g: string) => (g === HIGH ? 'high-resource mean' : g === LOW ? 'low-resource mean' : g);

export const AXIS_LANG = { title: 'language (ISO 639-3)', labelAngle: -45 };

/** Colour by resource group; the legend lists only the groups of `langs`. */
export function colourEncoding(d: ReportData, langs: string[]) {
  const present = new Set(langs.map((l) => groupOf(d.groups, l)));
  const groups = [...Object.keys(d.groups), 'other'].filter((g) => present.has(g));
  return {
    field: 'group',
    type: 'nominal',
    title: 'resource group',
    scale: { domain: groups, range: groups.map((g) => groupColour(g)) },
  };
}
export const stateColour = {
  field: 'state',
  type: 'nominal',
  title: 'ratio',
  scale: { domain: ['stable', 'unstable'], range: ['#222222', '#AAAAAA'] },
};

export function unstableCell(e: ExperimentData, metric: string, model: string | null): Cell {
  const c = metricCell(e, metric, model, null);
  if (c.value === undefined) return c;
  return {
    ...c,
    worded: true,
    text:
      c.value > 0
        ? c.value < 1
          ? `unstable in ${formatNumber(c.value * 100)} % of replicates`
          : 'unstable'
        : 'stable',
  };
}
