// `langquant import`: results obtained elsewhere (another machine, an earlier study) brought into a
// run folder with a provenance note, so an experiment can stand as done "from EXP-039 v3". Imported
// results are passed attempts with source 'import' and the note; they are labelled as such in the
// store, in status, in plans and in every metric row read back.
//
// Formats. JSON: an array of rows, or {"note": "...", "rows": [...]} where a row is
// {"experiment", "metric", "value", "model"?, "language"?, "replicate"?}; "NaN", "Infinity" and
// "-Infinity" are accepted as values. CSV: a header with experiment, metric, value and optionally
// model, language, replicate.

import { readFileSync, existsSync, statSync } from 'node:fs';
import { DataError, UserError } from '../errors.ts';
import { canonicalJson, sha256 } from './hash.ts';
import type { ConsistencyResult, KindRegistry, MetricInput } from './kind.ts';
import { importedReplicates, scoreExperiment } from './runner.ts';
import type { PipelineSpec } from './spec.ts';
import { Store } from './store.ts';

export interface ImportRow extends MetricInput {
  experiment: string;
  replicate: number;
}

function toNumber(v: unknown, where: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const s = v.trim();
    if (/^(nan|[+-]?inf(inity)?)$/i.test(s)) return /nan/i.test(s) ? NaN : s.startsWith('-') ? -Infinity : Infinity;
    if (s !== '' && Number.isFinite(Number(s))) return Number(s);
  }
  throw new DataError(`${where}: value '${String(v)}' is not a number (write a number, NaN, Infinity or -Infinity)`);
}

function toRow(o: Record<string, unknown>, where: string): ImportRow {
  const experiment = o.experiment;
  const metric = o.metric;
  if (typeof experiment !== 'string' || experiment === '') throw new DataError(`${where}: needs an 'experiment' id`);
  if (typeof metric !== 'string' || metric === '') throw new DataError(`${where}: needs a 'metric' name`);
  const rep = o.replicate === undefined || o.replicate === '' || o.replicate === null ? 0 : Number(o.replicate);
  if (!Number.isInteger(rep) || rep < 0)
    throw new DataError(`${where}: replicate '${String(o.replicate)}' is not a non-negative integer`);
  const str = (x: unknown) => (x === undefined || x === null || x === '' ? null : String(x));
  return {
    experiment,
    metric,
    value: toNumber(o.value, where),
    model: str(o.model),
    language: str(o.language),
    replicate: rep,
  };
}

/** Minimal RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') q = false;
      else field += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      if (row.some((f) => f !== '')) rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (q)
    throw new DataError('a quoted CSV field is never closed (a " without its closing "); fix the quotes in the file');
  row.push(field);
  if (row.some((f) => f !== '')) rows.push(row);
  return rows;
}

/** Reads a results file (.json or .csv) into rows and the note it carries, if any. */
export function readResultsFile(file: string): { rows: ImportRow[]; note: string | null } {
  if (!existsSync(file) || !statSync(file).isFile())
    throw new DataError(
      `results file ${file} ${existsSync(file) ? 'is a folder' : 'does not exist'}; give a .json or .csv file of experiment, metric, value rows`,
    );
  const text = readFileSync(file, 'utf8');
  if (/\.csv$/i.test(file)) {
    let table: string[][];
    try {
      table = parseCsv(text);
    } catch (e) {
      throw new DataError(`${file}: ${(e as Error).message}`);
    }
    const [header, ...body] = table;
    const cols = (header ?? []).map((h) => h.trim().toLowerCase());
    for (const need of ['experiment', 'metric', 'value'])
      if (!cols.includes(need))
        throw new DataError(`${file}: the CSV header needs a '${need}' column (it has: ${cols.join(', ')})`);
    return {
      rows: body.map((r, i) => toRow(Object.fromEntries(cols.map((c, j) => [c, r[j]])), `${file} line ${i + 2}`)),
      note: null,
    };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new DataError(
      `${file} is not valid JSON (${(e as Error).message}); write an array of {experiment, metric, value, …} rows`,
    );
  }
  const list = Array.isArray(data) ? data : (data as { rows?: unknown })?.rows;
  if (!Array.isArray(list)) throw new DataError(`${file}: expected an array of rows or {"note": …, "rows": [...]}`);
  const note =
    !Array.isArray(data) && typeof (data as { note?: unknown }).note === 'string'
      ? (data as { note: string }).note
      : null;
  return { rows: list.map((o, i) => toRow(o as Record<string, unknown>, `${file} row ${i + 1}`)), note };
}

export interface ImportSummary {
  experiments: {
    id: string;
    replicates: number;
    metrics: number;
    fingerprint: string;
    status: 'passed' | 'failed';
    reason: string | null;
    consistency: ConsistencyResult | null;
  }[];
  note: string;
}

/**
 * Stores imported rows into a run folder, one transaction per experiment, and scores them as a run's
 * results are scored (scoreExperiment, as `langquant run` does later with an imported result): when
 * the folder's latest run has the experiment in its pipeline and `registry` knows its kind, by the
 * kind's key metrics and consistency rule; otherwise by defaultConsistency over the rows.
 */
export function importResults(
  runDir: string,
  rows: readonly ImportRow[],
  note: string,
  registry: KindRegistry | null = null,
): ImportSummary {
  if (note.trim() === '')
    throw new UserError('say where these results come from with --note (e.g. --note "from EXP-039 v3")');
  if (rows.length === 0) throw new DataError('the results file holds no rows');
  const byExp = new Map<string, Map<number, MetricInput[]>>();
  for (const r of rows) {
    const reps = byExp.get(r.experiment) ?? byExp.set(r.experiment, new Map()).get(r.experiment)!;
    (reps.get(r.replicate) ?? reps.set(r.replicate, []).get(r.replicate)!).push({
      metric: r.metric,
      value: r.value,
      model: r.model,
      language: r.language,
    });
  }
  const store = Store.open(runDir);
  try {
    // When a pipeline has run here, an id it does not know is a typo, not a new experiment.
    const pipeline = (store.latestRun()?.pipeline ?? null) as Pick<PipelineSpec, 'experiments'> | null;
    const known = (pipeline?.experiments ?? []).map((e) => e.id);
    if (known.length > 0) {
      const unknown = [...byExp.keys()].filter((id) => !known.includes(id));
      if (unknown.length > 0)
        throw new DataError(
          `experiment '${unknown[0]}' is not in the pipeline run in ${runDir} (ids: ${known.join(', ')}); fix the experiment column of the results file`,
        );
    }
    const out: ImportSummary = { experiments: [], note };
    for (const [id, reps] of byExp) {
      const fp = `import:${sha256(canonicalJson({ note, rows: [...reps].map(([k, m]) => [k, m]) }))}`;
      store.importResults(null, id, fp, note, reps);
      const prev = store.experiment(id);
      const spec = pipeline?.experiments.find((e) => e.id === id);
      // The pipeline's experiment when its kind is loaded; else an unknown kind (every finite metric checked).
      const scored = spec && registry?.get(spec.kind) ? spec : { id, kind: '', params: {} };
      const sc = scoreExperiment(store, registry, scored, fp, importedReplicates(store, id));
      store.setExperiment({
        id,
        kind: prev?.kind ?? spec?.kind ?? null,
        phase: prev?.phase ?? spec?.phase ?? null,
        question: prev?.question ?? spec?.question ?? null,
        fingerprint: fp,
        replicates: reps.size,
        status: sc.status,
        reason: sc.reason,
        source: 'import',
        sourceRun: null,
        note,
        complete: sc.complete,
        consistency: sc.consistency,
        runId: prev?.runId ?? null,
      });
      out.experiments.push({
        id,
        replicates: reps.size,
        metrics: [...reps.values()].reduce((s, m) => s + m.length, 0),
        fingerprint: fp,
        status: sc.status,
        reason: sc.reason,
        consistency: sc.consistency,
      });
    }
    return out;
  } finally {
    store.close();
  }
}
