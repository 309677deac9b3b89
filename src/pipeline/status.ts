// The state of a run folder as `langquant status` shows it: the experiment checklist (status and
// where each result came from) and the research-question ledger, decided from the stored evidence.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KindRegistry } from './kind.ts';
import { compareIds } from './plan.ts';
import { evaluateQuestion, type EvidenceSource, type QuestionSpec, type QuestionVerdict } from './rules.ts';
import type { PipelineSpec } from './spec.ts';
import { isProcessAlive } from '../util/process.ts';
import { STORE_FILE, Store, type ExperimentStatus } from './store.ts';
import type { ConsistencyResult } from './kind.ts';

export interface ExperimentStatusLine {
  id: string;
  kind: string | null;
  phase: string | null;
  question: string | null;
  status: ExperimentStatus;
  reason: string | null;
  /** run: ran in run N; cache: reused from run N; import: imported with `note`. */
  source: 'run' | 'cache' | 'import' | null;
  sourceRun: number | null;
  note: string | null;
  replicates: number | null;
  consistency: ConsistencyResult | null;
  fingerprint: string | null;
  attempts: number;
  durationMs: number | null; // total of the passing attempts behind the result
  logs: string[];
  /** The jobs of its replicates in flight: executor, job id (pid or Slurm job id), latest state seen. */
  jobs: { replicate: number; executor: string; jobId: string; state: string | null }[];
}

export interface StatusReport {
  runDir: string;
  pipeline: string | null;
  run: { id: number; status: string; startedAt: string; endedAt: string | null } | null;
  experiments: ExperimentStatusLine[];
  questions: QuestionVerdict[];
}

/** Evidence for rules, read from a store. */
export function storeEvidence(store: Store, groups: Readonly<Record<string, readonly string[]>>): EvidenceSource {
  return {
    groups,
    state: (id) => {
      const r = store.experiment(id);
      return r ? { status: r.status, reason: r.reason, complete: r.complete } : undefined;
    },
    metrics: (id) => store.metrics(id),
    consistency: (id) => store.experiment(id)?.consistency ?? null,
  };
}

/** Reads a run folder's checklist and ledger. Null when the folder holds no store. */
export async function readStatus(runDir: string): Promise<StatusReport | null> {
  if (!existsSync(join(runDir, STORE_FILE))) return null;
  const store = Store.openReadOnly(runDir)!;
  try {
    const run = store.latestRun();
    const spec = (run?.pipeline ?? null) as PipelineSpec | null;
    const rows = new Map(store.experiments().map((r) => [r.id, r]));
    const runAlive = run ? run.status === 'running' && run.pid !== null && isProcessAlive(run.pid) : false;
    const ids = spec ? spec.experiments.map((e) => e.id) : [...rows.keys()].sort(compareIds);
    const specById = new Map((spec?.experiments ?? []).map((e) => [e.id, e]));
    const experiments: ExperimentStatusLine[] = ids.map((id) => {
      const r = rows.get(id);
      const se = specById.get(id);
      let status: ExperimentStatus = r?.status ?? 'pending';
      let reason = r?.reason ?? null;
      const attempts = store.attempts(id);
      const jobs = attempts
        .filter((a) => a.status === 'running' && a.jobId !== null)
        .map((a) => ({ replicate: a.replicate, executor: a.executor ?? 'local', jobId: a.jobId!, state: a.jobState }));
      if (status === 'running' && !runAlive) {
        status = 'interrupted';
        const slurm = jobs.filter((j) => j.executor === 'slurm');
        reason = slurm.length
          ? `the orchestrator stopped while this was running; its Slurm job(s) ${slurm.map((j) => `${j.jobId} (last seen ${j.state ?? '?'})`).join(', ')} may still be running: run again to adopt them`
          : 'the orchestrator stopped while this was running; run again to resume';
      }
      const current = r?.fingerprint ? [...store.passingAttempts(id, r.fingerprint).values()] : [];
      return {
        id,
        kind: r?.kind ?? se?.kind ?? null,
        phase: r?.phase ?? se?.phase ?? null,
        question: r?.question ?? se?.question ?? null,
        status,
        reason,
        source: r?.source ?? null,
        sourceRun: r?.sourceRun ?? null,
        note: r?.note ?? null,
        replicates: r?.replicates ?? se?.replicates ?? null,
        consistency: r?.consistency ?? null,
        fingerprint: r?.fingerprint ?? null,
        attempts: attempts.filter((a) => a.source === 'run').length,
        durationMs: current.length ? current.reduce((s, a) => s + (a.durationMs ?? 0), 0) : null,
        logs: [...new Set(attempts.filter((a) => a.logPath).map((a) => a.logPath!))],
        jobs,
      };
    });
    const questions: QuestionSpec[] = spec?.questions ?? [];
    let registry: KindRegistry | null = null;
    if (questions.some((q) => q.rule && 'fn' in q.rule))
      registry = await KindRegistry.load((run?.options as { kindModules?: string[] } | null)?.kindModules ?? []).catch(
        () => null,
      );
    const src = storeEvidence(store, spec?.corpus.groups ?? {});
    const verdicts = questions.map((q) => evaluateQuestion(q, src, (n) => registry?.rule(n)));
    return {
      runDir,
      pipeline: run?.pipelineFile ?? null,
      run: run
        ? {
            id: run.id,
            status: run.status === 'running' && !runAlive ? 'crashed' : run.status,
            startedAt: run.startedAt,
            endedAt: run.endedAt,
          }
        : null,
      experiments,
      questions: verdicts,
    };
  } finally {
    store.close();
  }
}
