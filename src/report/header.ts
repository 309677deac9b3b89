// The head of a report as tables: the research-question ledger (status and evidence), the
// experiment checklist (tick, status, time, where each result came from) and the run's provenance
// (models with content hashes, corpus and language groups, seeds, versions, machine).
// Reference: issue 9 ("Header"); the same checklist as `langquant status` (src/cli/commands/status.ts).

import { formatDuration } from '../pipeline/duration.ts';
import type { ReportData } from './data.ts';
import type { Table } from './figure.ts';

const TICK: Record<string, string> = {
  passed: '✓',
  failed: '✗',
  blocked: '⊘',
  pending: '·',
  running: '…',
  interrupted: '!',
};

function sourceText(e: ReportData['experiments'][number]): string {
  if (e.source === 'import') return `imported${e.note ? `: ${e.note}` : ''}`;
  if (e.source === 'cache') return `stored result${e.sourceRun ? ` (run ${e.sourceRun})` : ''}`;
  if (e.source === 'run') return `run ${e.sourceRun ?? ''}`.trim();
  return '';
}

const t = (text: string) => ({ text });

export function ledgerTable(d: ReportData): Table {
  return {
    id: 'questions',
    caption: "research questions, decided from the stored evidence by the pipeline's rules",
    columns: [{ label: 'id', key: true }, { label: 'question' }, { label: 'status' }, { label: 'evidence' }],
    rows: d.questions.map((q) => [t(q.id), t(q.question), t(q.status), t(q.evidence)]),
  };
}

export function checklistTable(d: ReportData): Table {
  return {
    id: 'checklist',
    caption: 'experiments: ✓ passed · ✗ failed · ⊘ blocked · · pending · ! interrupted',
    columns: [
      { label: '' },
      { label: 'id', key: true },
      { label: 'kind' },
      { label: 'question' },
      { label: 'status' },
      { label: 'time' },
      { label: 'replicates' },
      { label: 'source' },
      { label: 'note' },
    ],
    rows: d.experiments.map((e) => {
      const reps =
        e.consistency && e.consistency.total > 1
          ? `${e.consistency.agreeing}/${e.consistency.total} consistent`
          : e.replicates !== null
            ? String(e.replicates)
            : '';
      return [
        t(TICK[e.status] ?? '?'),
        t(e.id),
        t(e.kind ?? ''),
        t(e.question ?? ''),
        t(e.status),
        t(e.durationMs !== null && e.source !== 'import' ? formatDuration(e.durationMs) : ''),
        t(reps),
        t(sourceText(e)),
        t(e.reason ?? ''),
      ];
    }),
  };
}

function parse(v: string | undefined): unknown {
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v);
  } catch {
    return v; // stored as plain text
  }
}

const str = (v: unknown): string =>
  v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);

export function modelsTable(d: ReportData): Table {
  const prov = (parse(d.provenance.models) ?? {}) as Record<
    string,
    { path?: string; hash?: string | null; overridden?: boolean }
  >;
  const aliases = [...new Set([...Object.keys(d.models), ...Object.keys(prov)])].sort();
  return {
    id: 'models',
    caption: 'models (content hash: SHA-256 over the checkpoint files)',
    columns: [
      { label: 'alias', key: true },
      { label: 'checkpoint' },
      { label: 'content hash' },
      { label: 'description' },
    ],
    rows: aliases.map((a) => [
      t(a),
      t(`${prov[a]?.path ?? d.models[a]?.path ?? ''}${prov[a]?.overridden ? ' (--model)' : ''}`),
      t(prov[a]?.hash ? String(prov[a].hash) : 'not recorded'),
      t(d.models[a]?.description ?? ''),
    ]),
  };
}

export function provenanceTable(d: ReportData): Table {
  const p = d.provenance;
  const rows: [string, string][] = [];
  const add = (k: string, v: unknown) => {
    const s = str(v);
    if (s !== '') rows.push([k, s]);
  };
  add(
    'run',
    d.run
      ? `${d.run.id} (${d.run.status}), started ${d.run.startedAt}${d.run.endedAt ? `, ended ${d.run.endedAt}` : ''}`
      : 'no run recorded',
  );
  add('pipeline', parse(p.pipeline_file));
  add('pipeline SHA-256', parse(p.pipeline_sha256));
  const corpus = Object.entries(d.corpus)
    .map(([k, v]) => `${k}: ${str(v)}`)
    .join('; ');
  add('corpus', corpus);
  for (const [g, langs] of Object.entries(d.groups)) add(`languages (${g})`, langs.join(', '));
  add('data hash', parse(p.data_hash));
  add('seed', parse(p.seed));
  add('replicate seeds', (parse(p.replicate_seeds) as unknown[] | undefined)?.join(', '));
  add('langquant', d.toolVersion);
  add('git commit', `${str(parse(p.git_commit))}${parse(p.git_dirty) === true ? ' (with uncommitted changes)' : ''}`);
  add('Node.js', parse(p.node));
  const pk = parse(p.packages) as Record<string, string> | undefined;
  if (pk && typeof pk === 'object')
    add(
      'packages',
      Object.entries(pk)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    );
  const m = parse(p.machine) as
    | {
        hostname?: string;
        platform?: string;
        release?: string;
        arch?: string;
        cpus?: number;
        cpu?: string;
        memoryBytes?: number;
      }
    | undefined;
  if (m && typeof m === 'object')
    add(
      'machine',
      `${m.cpus ?? '?'} × ${m.cpu ?? '?'}, ${m.memoryBytes ? `${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB` : '? GiB'}, ${m.platform ?? ''} ${m.release ?? ''} ${m.arch ?? ''}`.trim(),
    );
  return {
    id: 'provenance',
    caption: 'provenance of the latest run',
    columns: [{ label: 'what', key: true }, { label: 'value' }],
    rows: rows.map(([k, v]) => [t(k), t(v)]),
  };
}
