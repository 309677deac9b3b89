// The figures of a study report, in the order of issue 9: for each chart, the numbers behind it as
// tables (every number a metric of the store, summarised over replicates, with a reference to where
// it came from) and a Vega-Lite specification drawn from the same numbers. A figure whose experiments
// have no results yet says so (`missing`) instead of failing. Metric names and units come from the
// study's catalogue (src/study/metrics.ts); definitions are stated next to the numbers.
// Reference: issue 9; DESIGN.md §4 (ΔBPB, relative perplexity increase, disparity ratio), §7.

import type { ReportData } from '../../report/data.ts';
import type { Figure } from '../../report/figure.ts';
import type { ReportContent } from '../../report/write.ts';
import { baselineFigure } from './baseline.ts';
import { degradationFigure } from './degradation.ts';
import { disparityFigure } from './disparity.ts';
import { preservationFigure } from './preservation.ts';
import { heatmapFigure } from './heatmap.ts';
import { layerPreservationFigure } from './layer-preservation.ts';
import { crossModelFigure } from './cross-model.ts';
import { methodsFigure } from './methods.ts';

/** Every figure of a report, in the order of issue 9. */
export function buildFigures(d: ReportData): Figure[] {
  return [
    baselineFigure(d),
    degradationFigure(d),
    disparityFigure(d),
    preservationFigure(d),
    heatmapFigure(d),
    layerPreservationFigure(d),
    crossModelFigure(d),
    methodsFigure(d),
  ];
}

/** The study's report: its figures and how to read its primary measure. */
export const STUDY_REPORT: ReportContent = {
  figures: buildFigures,
  intro: [
    "ΔBPB is the primary degradation measure: the treated model's bits per UTF-8 byte minus the full-precision model's on the same text, so it compares across languages and tokenisers. Positive means worse.",
  ],
};
