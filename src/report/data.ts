// Reads everything a report shows from a run folder: the latest run's pipeline (groups, models,
// experiment parameters), its provenance, the experiment checklist and question ledger
// (src/pipeline/status.ts) and, per experiment, each metric summarised over replicates
// (mean, sd, 95 % t-interval — Store.summarize). Pure data; nothing here formats or draws.

import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { readStatus, type ExperimentStatusLine } from '../pipeline/status.ts';
import type { QuestionVerdict } from '../pipeline/rules.ts';
import type { PipelineSpec } from '../pipeline/spec.ts';
import { STORE_FILE, Store, type MetricSummary } from '../pipeline/store.ts';

export interface ExperimentData extends ExperimentStatusLine {
  params: Record<string, unknown>;
  dependsOn: string[];
  /** Every (model, language, metric) of the experiment's current results, summarised over replicates. */
  summaries: MetricSummary[];
}

export interface ReportData {
  runDir: string;
  name: string; // pipeline name, else the folder's name
  run: { id: number; status: string; startedAt: string; endedAt: string | null } | null;
  questions: QuestionVerdict[];
  experiments: ExperimentData[];
  /** Language group → languages (e.g. high, low), from the pipeline's corpus settings. */
  groups: Record<string, string[]>;
  corpus: Record<string, unknown>;
  models: Record<string, { path: string; description: string | null }>;
  /** Provenance of the latest run: key → value (JSON text for structured values). */
  provenance: Record<string, string>;
  toolVersion: string | null;
}

/** Loads a run folder for reporting; a ConfigError (a user's mistake) when it holds no results. */
export async function loadReportData(runDir: string): Promise<ReportData> {
  if (!existsSync(join(runDir, STORE_FILE))) {
    throw new ConfigError(
      `${runDir} holds no langquant results (no ${STORE_FILE}); run a pipeline into it first (langquant run PIPELINE --out ${runDir}) or name another run folder`,
    );
  }
  const status = (await readStatus(runDir))!;
  const store = Store.openReadOnly(runDir)!;
  try {
    const latest = store.latestRun();
    const spec = (latest?.pipeline ?? null) as PipelineSpec | null;
    const specById = new Map((spec?.experiments ?? []).map((e) => [e.id, e]));
    const experiments: ExperimentData[] = status.experiments.map((e) => ({
      ...e,
      params: (specById.get(e.id)?.params as Record<string, unknown> | undefined) ?? {},
      dependsOn: specById.get(e.id)?.dependsOn ?? [],
      summaries: store.summarize(e.id),
    }));
    const models: ReportData['models'] = {};
    for (const m of Object.values(spec?.models ?? {})) models[m.alias] = { path: m.path, description: m.description };
    const { groups, ...corpus } = spec?.corpus ?? { groups: {} };
    return {
      runDir,
      name: spec?.name ?? basename(runDir),
      run: status.run,
      questions: status.questions,
      experiments,
      groups: groups ?? {},
      corpus,
      models,
      provenance: latest ? store.provenance(latest.id) : {},
      toolVersion: latest?.toolVersion ?? null,
    };
  } finally {
    store.close();
  }
}

/** The summary of one metric of an experiment; `undefined` model/language match rows where it is null. */
export function summaryOf(
  e: ExperimentData,
  metric: string,
  model?: string | null,
  language?: string | null,
): MetricSummary | undefined {
  return e.summaries.find(
    (s) => s.metric === metric && s.model === (model ?? null) && s.language === (language ?? null),
  );
}

/** The group a language belongs to ('other' when none names it). */
export function groupOf(groups: Record<string, string[]>, language: string): string {
  for (const [g, langs] of Object.entries(groups)) if (langs.includes(language)) return g;
  return 'other';
}
