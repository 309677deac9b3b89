// `langquant report`: builds the report of a run folder (or the comparison of two) and writes it
// into the run folder atomically: report.md, report.html and charts/<figure>.svg (compare.md and
// compare.html with --compare). Every file is first written under a temporary name in the same
// folder and then renamed into place, so a reader never sees half a report.

import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { renderSvg } from './charts.ts';
import { compareTableLists } from './compare.ts';
import { loadReportData, type ReportData } from './data.ts';
import type { Figure } from './figure.ts';
import { checklistTable, ledgerTable, modelsTable, provenanceTable } from './header.ts';
import { chartFile, renderHtml, renderMarkdown, type ReportDoc, type ReportSection } from './render.ts';

/** What a study puts in its report: its figures, built from a run's data, and an introduction. */
export interface ReportContent {
  figures: (d: ReportData) => Figure[];
  /** Paragraphs before the figures: how to read the numbers. */
  intro?: readonly string[];
}

export interface ReportOptions extends ReportContent {
  /** A second run folder: its tables are set beside this run's, with differences. */
  compare?: string;
}

export interface ReportResult {
  files: string[]; // absolute paths written
  doc: ReportDoc;
  data: ReportData;
}

function runLabel(d: ReportData): string {
  return basename(d.runDir);
}

/** Builds the document of one run, or of run A against run B. Pure apart from reading the stores. */
export async function buildReport(
  runDir: string,
  opts: ReportOptions,
): Promise<{ doc: ReportDoc; data: ReportData; other: ReportData | null }> {
  const a = await loadReportData(resolve(runDir));
  const b = opts.compare !== undefined ? await loadReportData(resolve(opts.compare)) : null;
  const figsA = opts.figures(a);
  const run = a.run ? `run ${a.run.id} (${a.run.status}, ${a.run.endedAt ?? a.run.startedAt})` : 'no run recorded';
  const intro = [
    "Numbers are means over replicates (± sample standard deviation when there are several), read from the run folder's store; each table sits under the chart drawn from it.",
    ...(opts.intro ?? []),
  ];
  if (!b) {
    const sections: ReportSection[] = [];
    for (const f of figsA)
      sections.push({ figure: f, svg: f.chart && !f.missing ? await renderSvg(f.chart) : null, tables: f.tables });
    return {
      doc: {
        title: `langquant report — ${a.name}`,
        subtitle: `Run folder ${a.runDir} · ${run}`,
        intro,
        header: [
          { title: 'Research questions', tables: [ledgerTable(a)] },
          { title: 'Experiment checklist', tables: [checklistTable(a)] },
          { title: 'Provenance', tables: [modelsTable(a), provenanceTable(a)] },
        ],
        sections,
      },
      data: a,
      other: null,
    };
  }
  const labels = { a: runLabel(a), b: runLabel(b) === runLabel(a) ? `${runLabel(b)} (B)` : runLabel(b) };
  const figsB = opts.figures(b);
  const sections: ReportSection[] = [];
  for (const f of figsA) {
    const g = figsB.find((x) => x.id === f.id)!;
    const both = f.missing && g.missing;
    const figure = both
      ? f
      : {
          ...f,
          missing: null,
          notes: [
            ...f.notes.map((n) => `${labels.a}: ${n}`),
            ...g.notes.map((n) => `${labels.b}: ${n}`),
            ...(f.missing ? [`${labels.a}: not available — ${f.missing}.`] : []),
            ...(g.missing ? [`${labels.b}: not available — ${g.missing}.`] : []),
          ],
        };
    sections.push({
      figure,
      svg: f.chart && !f.missing ? await renderSvg(f.chart) : null, // the chart of run A; the tables hold both
      tables: both ? [] : compareTableLists(f.tables, g.tables, labels),
    });
  }
  const cmp = (ta: ReturnType<typeof ledgerTable>, tb: ReturnType<typeof ledgerTable>) =>
    compareTableLists([ta], [tb], labels);
  return {
    doc: {
      title: `langquant comparison — ${labels.a} against ${labels.b}`,
      subtitle: `A: ${a.runDir} · B: ${b.runDir}. Charts show run A; tables show A, B and B − A.`,
      intro,
      header: [
        { title: 'Research questions', tables: cmp(ledgerTable(a), ledgerTable(b)) },
        { title: 'Experiment checklist', tables: cmp(checklistTable(a), checklistTable(b)) },
        {
          title: 'Provenance',
          tables: [...cmp(modelsTable(a), modelsTable(b)), ...cmp(provenanceTable(a), provenanceTable(b))],
        },
      ],
      sections,
    },
    data: a,
    other: b,
  };
}

function writeAtomic(path: string, content: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Builds and writes the report into the run folder; returns the files written. */
export async function writeReport(runDir: string, opts: ReportOptions): Promise<ReportResult> {
  const { doc, data } = await buildReport(runDir, opts);
  const dir = data.runDir;
  const files: string[] = [];
  mkdirSync(join(dir, 'charts'), { recursive: true });
  for (const s of doc.sections) {
    if (!s.svg) continue;
    const p = join(dir, chartFile(s.figure.id));
    writeAtomic(p, s.svg.startsWith('<?xml') ? s.svg : `<?xml version="1.0" encoding="UTF-8"?>\n${s.svg}\n`);
    files.push(p);
  }
  const stem = opts.compare !== undefined ? 'compare' : 'report';
  // Markdown, then HTML last: the page that links nothing is the last thing to appear.
  const md = join(dir, `${stem}.md`);
  writeAtomic(md, renderMarkdown(doc));
  files.push(md);
  const html = join(dir, `${stem}.html`);
  writeAtomic(html, renderHtml(doc));
  files.push(html);
  return { files, doc, data };
}
