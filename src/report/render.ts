// Renders a report document to Markdown (charts linked as charts/<id>.svg) and to one
// self-contained HTML page (the same SVGs inlined, CSS inline, no script, no external resource),
// laid out to print on A4. In HTML each number from the store carries where it came from
// (data-experiment, data-metric, data-model, data-language) and its exact value (data-value).

import { alignDecimals, type Cell, type Figure, type Table } from './figure.ts';

export interface ReportSection {
  figure: Figure;
  /** The chart as SVG markup; null when the figure has no chart. */
  svg: string | null;
  /** Tables shown under the chart (the figure's own, or side-by-side tables when comparing). */
  tables: Table[];
}

export interface ReportDoc {
  title: string;
  subtitle: string;
  intro: string[];
  header: { title: string; tables: Table[] }[];
  sections: ReportSection[];
}

export const chartFile = (id: string) => `charts/${id}.svg`;

// ---------------------------------------------------------------- Markdown

const mdCell = (c: Cell) => c.text.replace(/\|/g, '\\|').replace(/\n/g, ' ') || ' ';

function mdTable(table: Table): string {
  const t = alignDecimals(table);
  const head = t.columns.map((c) => mdCell({ text: c.unit ? `${c.label} (${c.unit})` : c.label }));
  const align = t.columns.map((c, i) => (t.rows.some((r) => r[i]?.value !== undefined) ? '---:' : '---'));
  const lines = [`*${t.caption}*`, '', `| ${head.join(' | ')} |`, `| ${align.join(' | ')} |`];
  for (const r of t.rows) lines.push(`| ${t.columns.map((_, i) => mdCell(r[i] ?? { text: '' })).join(' | ')} |`);
  if (t.rows.length === 0) lines.push(`| ${t.columns.map(() => ' ').join(' | ')} |`);
  return lines.join('\n');
}

export function renderMarkdown(doc: ReportDoc): string {
  const out: string[] = [`# ${doc.title}`, '', doc.subtitle, ''];
  for (const p of doc.intro) out.push(p, '');
  for (const h of doc.header) {
    out.push(`## ${h.title}`, '');
    for (const t of h.tables) out.push(mdTable(t), '');
  }
  doc.sections.forEach((s, k) => {
    const f = s.figure;
    out.push(`## ${k + 1}. ${f.title}`, '');
    if (f.experiments.length) out.push(`Experiments: ${f.experiments.join(', ')}.`, '');
    if (f.missing) {
      out.push(`> **Not available:** ${f.missing}.`, '');
      return;
    }
    if (s.svg) out.push(`![${f.title}](${chartFile(f.id)})`, '');
    for (const d of f.definitions) out.push(`- ${d}`);
    out.push('');
    for (const n of f.notes) out.push(n, '');
    for (const t of s.tables) out.push(mdTable(t), '');
  });
  return out.join('\n').replace(/\n{3,}/g, '\n\n');
}

// ---------------------------------------------------------------- HTML

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function htmlCell(c: Cell, numericColumn = false): string {
  const attrs: string[] = [];
  if (c.value !== undefined) {
    attrs.push('class="num"', `data-value="${esc(String(c.value))}"`);
    if (c.derived) attrs.push('data-derived="1"');
    if (c.worded) attrs.push('data-worded="1"');
  } else if (numericColumn && c.text !== '') {
    attrs.push('class="num"'); // a dash or n/a lines up with the numbers of its column
  }
  if (c.ref) {
    attrs.push(`data-experiment="${esc(c.ref.experiment)}"`, `data-metric="${esc(c.ref.metric)}"`);
    if (c.ref.model !== null) attrs.push(`data-model="${esc(c.ref.model)}"`);
    if (c.ref.language !== null) attrs.push(`data-language="${esc(c.ref.language)}"`);
  }
  // The ± sd in its own span: on paper it goes under the mean, so wide tables fit the page.
  const pm = c.sd !== undefined ? c.text.indexOf(' ± ') : -1;
  const body = pm > 0 ? `${esc(c.text.slice(0, pm))}<span class="sd">${esc(c.text.slice(pm))}</span>` : esc(c.text);
  return `<td${attrs.length ? ' ' + attrs.join(' ') : ''}>${body}</td>`;
}

function htmlTable(table: Table): string {
  const t = alignDecimals(table);
  const head = t.columns
    .map((c) => `<th scope="col">${esc(c.label)}${c.unit ? `<br><span class="unit">${esc(c.unit)}</span>` : ''}</th>`)
    .join('');
  const numeric = t.columns.map((_, i) => t.rows.some((r) => r[i]?.value !== undefined));
  const body = t.rows
    .map((r) => `<tr>${t.columns.map((_, i) => htmlCell(r[i] ?? { text: '' }, numeric[i])).join('')}</tr>`)
    .join('\n');
  return `<div class="table-wrap"><table data-table="${esc(t.id)}"><caption>${esc(t.caption)}</caption>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table></div>`;
}

/** The SVG as an inline element: no XML prolog, labelled for screen readers, scaled to the page. */
function inlineSvg(svg: string, title: string): string {
  const start = svg.indexOf('<svg');
  const s = start > 0 ? svg.slice(start) : svg;
  return s.replace('<svg', `<svg role="img" aria-label="${esc(title)}"`);
}

const CSS = `
:root { color-scheme: light; }
body { font-family: Helvetica, Arial, "Liberation Sans", sans-serif; color: #222; margin: 0 auto; max-width: 1180px; padding: 24px 32px 48px; line-height: 1.4; font-size: 14px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.subtitle { color: #555; margin: 0 0 16px; }
figure { margin: 12px 0; }
figure svg { max-width: 100%; height: auto; }
ul.defs { font-size: 13px; color: #333; margin: 8px 0; padding-left: 20px; }
p.note { font-size: 13px; margin: 6px 0; }
p.missing { background: #fff6e0; border-left: 4px solid #e0a800; padding: 8px 12px; }
.table-wrap { overflow-x: auto; margin: 10px 0 16px; }
table { border-collapse: collapse; font-size: 12px; }
caption { text-align: left; font-style: italic; color: #555; padding: 4px 0; caption-side: top; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 3px 8px; text-align: left; vertical-align: top; }
td { overflow-wrap: break-word; }
.header-table td { overflow-wrap: anywhere; } /* hashes, paths and error notes may be one long token */
th { border-bottom: 2px solid #999; font-weight: 600; }
th .unit { font-weight: normal; color: #666; font-size: 11px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafafa; }
.status-CONFIRMED { color: #1b6e20; font-weight: 600; } .status-REFUTED { color: #b71c1c; font-weight: 600; }
.status-PARTIAL { color: #8a6d00; font-weight: 600; } .status-PENDING { color: #666; }
@page { size: A4; margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  h2 { break-after: avoid; }
  section.figure, figure, .table-wrap, table { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  table { font-size: 9px; }
  th .unit { font-size: 8px; }
  td .sd { display: block; font-size: 8px; color: #555; }
  ul.defs, p.note { font-size: 10px; }
  tbody tr:nth-child(even) { background: none; }
}
`;

export function renderHtml(doc: ReportDoc): string {
  const parts: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // No script, no external resource: the page is complete on its own, from disk or on paper.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(doc.title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    `<h1>${esc(doc.title)}</h1>`,
    `<p class="subtitle">${esc(doc.subtitle)}</p>`,
    ...doc.intro.map((p) => `<p>${esc(p)}</p>`),
  ];
  for (const h of doc.header) {
    parts.push(`<h2>${esc(h.title)}</h2>`);
    for (const t of h.tables) {
      const html = htmlTable(t).replace('<div class="table-wrap">', '<div class="table-wrap header-table">');
      parts.push(
        t.id === 'questions'
          ? html.replace(/<td>(CONFIRMED|REFUTED|PARTIAL|PENDING)<\/td>/g, '<td class="status-$1">$1</td>')
          : html,
      );
    }
  }
  doc.sections.forEach((s, k) => {
    const f = s.figure;
    parts.push(
      `<section class="figure" id="${esc(f.id)}" data-figure="${esc(f.id)}">`,
      `<h2>${k + 1}. ${esc(f.title)}</h2>`,
    );
    if (f.experiments.length) parts.push(`<p class="note">Experiments: ${esc(f.experiments.join(', '))}.</p>`);
    if (f.missing) {
      parts.push(
        `<p class="missing" data-missing="1"><strong>Not available:</strong> ${esc(f.missing)}.</p>`,
        '</section>',
      );
      return;
    }
    if (s.svg)
      parts.push(
        `<figure>${inlineSvg(s.svg, f.title)}<figcaption class="note">Figure ${k + 1}. ${esc(f.title)}.</figcaption></figure>`,
      );
    parts.push(`<ul class="defs">${f.definitions.map((d) => `<li>${esc(d)}</li>`).join('')}</ul>`);
    for (const n of f.notes) parts.push(`<p class="note">${esc(n)}</p>`);
    for (const t of s.tables) parts.push(htmlTable(t));
    parts.push('</section>');
  });
  parts.push('</body>', '</html>', '');
  return parts.join('\n');
}
