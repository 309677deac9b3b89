// Draws a Vega-Lite specification to a standalone SVG string in Node, at report time: Vega-Lite
// compiles it to Vega, and a headless Vega View (renderer 'none') renders the scene graph as SVG.
// No canvas, no browser, no network. One shared look: sans-serif labels, light grid, white ground,
// colour-blind-safe group colours (Paul Tol's "bright" blue/red), so figures paste into papers as they are.
// Reference: https://vega.github.io/vega-lite/docs/ and https://vega.github.io/vega/docs/api/view/#view_toSVG

import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** A Vega-Lite view specification as the figures build it (checked by Vega-Lite when compiled). */
export type VlSpec = Record<string, unknown>;

/** Colours of the resource groups; any other group is grey. */
export const GROUP_COLOURS: Readonly<Record<string, string>> = Object.freeze({
  high: '#4477AA',
  low: '#EE6677',
  other: '#8C8C8C',
});

export function groupColour(group: string): string {
  return GROUP_COLOURS[group] ?? GROUP_COLOURS.other;
}

const FONT = 'Helvetica, Arial, "Liberation Sans", sans-serif';

const CONFIG = {
  font: FONT,
  background: 'white',
  padding: 8,
  view: { stroke: '#DDDDDD' },
  axis: {
    labelFontSize: 10,
    titleFontSize: 11,
    titleFontWeight: 'normal',
    gridColor: '#EEEEEE',
    domainColor: '#888888',
    tickColor: '#888888',
    labelColor: '#222222',
    titleColor: '#222222',
  },
  legend: { labelFontSize: 10, titleFontSize: 11, titleFontWeight: 'normal' },
  title: { fontSize: 12, fontWeight: 'bold', anchor: 'start', color: '#222222' },
  concat: { spacing: 28 },
};

/** Renders a figure's specification to an SVG document (a string starting with `<svg`). */
export async function renderSvg(spec: VlSpec): Promise<string> {
  const full = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    ...spec,
  } as unknown as TopLevelSpec;
  const compiled = compile(full).spec;
  // renderer 'none': no canvas is needed to lay out; toSVG renders the scene graph to markup.
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
