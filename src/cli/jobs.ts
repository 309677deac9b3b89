// `run --jobs auto` (the default with the local executor): how many replicates run at once; each
// then has ⌊cores / jobs⌋ cores (KindContext.cpus, the same for every replicate of the run: the thread
// count is part of the score cache's key). One replicate per core as long as that many fit in half the
// machine's memory; else fewer, sharing the cores. Measured on the 2-core machine (README, Performance):
// a model up to 256 wide is fastest on one thread anyway; a GPT-2-small-shaped one scores a 128-token
// window in 218 ms on two threads and 269 ms on one, and two replicates on one thread each do two
// windows in 282 ms (1.55× the throughput of one replicate on both cores); in the study (10 languages,
// A-001 and B-005…B-007) 249 s against 277 s. Memory: a replicate holds the full-precision weights and
// a treated copy as float32, plus onnxruntime's buffers (REPLICATE_OVERHEAD_BYTES); a model whose
// config cannot be read here counts as too large (one at a time: each replicate then has every core).

import { availableParallelism, totalmem } from 'node:os';
import { loadConfig } from '../model/load.ts';
import { parameterCount } from '../model/spec.ts';
import type { PipelineSpec } from '../pipeline/spec.ts';

/** Fixed bytes of one replicate's process beyond its models (Node, onnxruntime, sessions, activations). */
export const REPLICATE_OVERHEAD_BYTES = 512 * 2 ** 20;

export interface AutoJobs {
  jobs: number;
  /** Cores each replicate may use: ⌊cores / jobs⌋. */
  cpus: number;
  /** Why, in words, for the run's first line. */
  reason: string;
}

/** Cores each of `jobs` replicates may use: ⌊cores / jobs⌋, at least one. */
export function coresPerJob(cores: number, jobs: number): number {
  return Math.max(1, Math.floor(cores / jobs));
}

/** Peak bytes of one replicate using a model of `parameters` parameters (two float32 copies and the overhead). */
export function replicateBytes(parameters: number): number {
  return 2 * 4 * parameters + REPLICATE_OVERHEAD_BYTES;
}

/**
 * The decision alone: the parameter counts of the models used (null: unknown), the machine's cores
 * and memory. Replicates at once: one per core, at most as many as fit in half the memory.
 */
export function decideJobs(parameters: readonly (number | null)[], cores: number, memoryBytes: number): AutoJobs {
  const one = (why: string): AutoJobs => ({ jobs: 1, cpus: coresPerJob(cores, 1), reason: why });
  if (parameters.length === 0 || cores <= 1) return one('one at a time');
  if (parameters.some((p) => p === null)) return one('one at a time, on every core (a model not readable yet)');
  const largest = Math.max(...(parameters as number[]));
  const fit = Math.floor(memoryBytes / 2 / replicateBytes(largest));
  const jobs = Math.min(cores, fit);
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
  if (jobs <= 1)
    return one(
      `one at a time, on every core (a replicate of the largest model needs about ${gib(replicateBytes(largest))}, half the memory is ${gib(memoryBytes / 2)})`,
    );
  const cpus = coresPerJob(cores, jobs);
  return {
    jobs,
    cpus,
    reason: `${jobs} at once, ${cpus === 1 ? 'one core' : `${cpus} cores`} each (about ${gib(replicateBytes(largest))} per replicate of the largest model)`,
  };
}

/** --jobs auto for a pipeline: reads the config.json of every model its experiments use. */
export function autoJobs(
  spec: Pick<PipelineSpec, 'models' | 'experiments'>,
  cores = availableParallelism(),
  memoryBytes = totalmem(),
): AutoJobs {
  const used = [...new Set(spec.experiments.flatMap((e) => e.models))];
  const parameters = used.map((alias) => {
    const m = spec.models[alias];
    try {
      return m ? parameterCount(loadConfig(m.path)) : null;
    } catch {
      return null; // a missing model is reported where it is used, with what to do
    }
  });
  return decideJobs(parameters, cores, memoryBytes);
}
