// The messages between the runner and the child that runs one replicate: the job file the runner
// writes and the result file the child writes back (JSON; NaN and ±Infinity spelled as strings).

import type { ResolvedModel } from './kind.ts';

/** Everything the child needs, written by the orchestrator as JSON. */
export interface ChildJob {
  modules: string[];
  experiment: { id: string; kind: string; phase: string | null; question: string | null; title: string | null; dependsOn: string[]; params: unknown };
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
  deps: { id: string; fingerprint: string }[];
  resultPath: string;
}

export type EncodedNumber = number | 'NaN' | 'Infinity' | '-Infinity';
export interface EncodedMetric {
  metric: string;
  value: EncodedNumber;
  model: string | null;
  language: string | null;
}
export type ChildResult = { ok: true; metrics: EncodedMetric[]; artifacts: string[] } | { ok: false; error: string; userError: boolean };

export function encodeNumber(v: number): EncodedNumber {
  return Number.isFinite(v) ? v : (String(v) as EncodedNumber);
}
export function decodeNumber(v: EncodedNumber): number {
  return typeof v === 'number' ? v : Number(v);
}

