// `run --jobs auto` (the default with the local executor): how many replicates run at once. A model at
// most SINGLE_THREAD_MAX_WIDTH wide runs on one onnxruntime thread (src/engine/ort/runtime.ts), so a
// pipeline whose models are all that narrow — the built-in study's mini models — runs one replicate
// per core; anything wider, or a model whose config cannot be read here, one at a time (each replicate
// then has every core, and memory for one model at a time).

import { availableParallelism } from 'node:os';
import { SINGLE_THREAD_MAX_WIDTH } from '../engine/ort/runtime.ts';
import { loadConfig } from '../model/load.ts';
import type { PipelineSpec } from '../pipeline/spec.ts';

export interface AutoJobs {
  jobs: number;
  /** Why, in words, for the run's first line. */
  reason: string;
}

/** The decision alone: the hidden widths of the models used (null: unknown) and the machine's cores. */
export function decideJobs(widths: readonly (number | null)[], cores: number): AutoJobs {
  if (widths.length === 0 || cores <= 1) return { jobs: 1, reason: 'one at a time' };
  if (widths.some((w) => w === null || w > SINGLE_THREAD_MAX_WIDTH))
    return {
      jobs: 1,
      reason: `one at a time, each on every core (a model wider than ${SINGLE_THREAD_MAX_WIDTH} or not readable yet)`,
    };
  return {
    jobs: cores,
    reason: `${cores} at once: every model is at most ${SINGLE_THREAD_MAX_WIDTH} wide and runs on one onnxruntime thread`,
  };
}

/** --jobs auto for a pipeline: reads the config.json of every model its experiments use. */
export function autoJobs(spec: Pick<PipelineSpec, 'models' | 'experiments'>, cores = availableParallelism()): AutoJobs {
  const used = [...new Set(spec.experiments.flatMap((e) => e.models))];
  const widths = used.map((alias) => {
    const m = spec.models[alias];
    try {
      return m ? loadConfig(m.path).hiddenSize : null;
    } catch {
      return null; // a missing model is reported where it is used, with what to do
    }
  });
  return decideJobs(widths, cores);
}
