// The messages between the runner and the child that runs one replicate: the job file the runner
// writes and the result file the child writes back (JSON; NaN and ±Infinity spelled as strings).
// The job file carries a snapshot of the dependencies' results, so that a child never opens the
// SQLite store, wherever it runs (a Slurm node reaches the run folder over a network filesystem,
// where SQLite's WAL mode cannot work: it needs memory shared with the writer).

import type { ArtifactRow, ResolvedModel } from './kind.ts';

/** The current results of one dependency, as the orchestrator read them from the store. */
export interface DependencySnapshot {
  id: string;
  fingerprint: string;
  source: 'run' | 'import';
  note: string | null;
  metrics: {
    replicate: number;
    model: string | null;
    language: string | null;
    metric: string;
    value: EncodedNumber;
    source: 'run' | 'import';
  }[];
  artifacts: ArtifactRow[];
}

/** Everything the child needs, written by the orchestrator as JSON. */
export interface ChildJob {
  modules: string[];
  experiment: {
    id: string;
    kind: string;
    phase: string | null;
    question: string | null;
    title: string | null;
    dependsOn: string[];
    params: unknown;
  };
  replicate: number;
  replicates: number;
  seed: number;
  baseSeed: number;
  models: Record<string, ResolvedModel>;
  corpus: Record<string, unknown>;
  groups: Record<string, string[]>;
  pipelineDir: string;
  runDir: string;
  workDir: string;
  cacheDir: string;
  /** KindContext.scoreCacheDir (absent in job files written before it existed: none). */
  scoreCacheDir?: string | null;
  /** KindContext.cpus (absent in job files written before it existed: null). */
  cpus?: number | null;
  /** KindContext.lane (absent: 0, the replicate itself). */
  lane?: number;
  deps: DependencySnapshot[];
  resultPath: string;
  /** Where a child without an IPC channel (a Slurm job) writes its latest progress; null: none. */
  progressPath: string | null;
}

/** A job for a warm worker (child.ts --worker), sent by the local executor over the IPC channel. */
export interface WorkerJob {
  type: 'job';
  jobFile: string;
  logFile: string;
  cwd: string;
  /** Leave after this job when the resident memory is above this many bytes (its answer says so). */
  maxRssBytes: number;
}

/** A worker's answer when a job has ended: the exit code a one-shot child would have had. */
export interface WorkerDone {
  type: 'done';
  code: number;
  /** The worker exits now (its memory grew past the job's maxRssBytes). */
  retire: boolean;
}

/** Exit code of a job that cannot read its job file (the run folder is not on a shared filesystem). */
export const EXIT_NO_JOB_FILE = 78;

/** What a job says when it cannot see its job file. */
export function noJobFileMessage(jobPath: string, host: string): string {
  return `langquant job: cannot read its job file ${jobPath} on ${host}: the run folder must be on a filesystem that the login node and the compute nodes share (not /tmp or a local disk); use --out on a shared filesystem`;
}

export type EncodedNumber = number | 'NaN' | 'Infinity' | '-Infinity';
export interface EncodedMetric {
  metric: string;
  value: EncodedNumber;
  model: string | null;
  language: string | null;
}
export type ChildResult =
  { ok: true; metrics: EncodedMetric[]; artifacts: string[] } | { ok: false; error: string; userError: boolean };

export function encodeNumber(v: number): EncodedNumber {
  return Number.isFinite(v) ? v : (String(v) as EncodedNumber);
}
export function decodeNumber(v: EncodedNumber): number {
  return typeof v === 'number' ? v : Number(v);
}
