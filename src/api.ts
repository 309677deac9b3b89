// The few conveniences of the public API (index.ts) that are not a module's own function: scoring
// ids with an engine, planning a pipeline against its run folder, the built-in study's kinds.

import { fileURLToPath } from 'node:url';
import type { Engine } from './engine/types.ts';
import { KindRegistry } from './pipeline/kind.ts';
import { planPipeline, type Plan, type Selection } from './pipeline/plan.ts';
import { resolveInputs, storedResults } from './pipeline/runner.ts';
import type { PipelineSpec } from './pipeline/spec.ts';
import { Store } from './pipeline/store.ts';

const EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js'; // sources through tsx, or dist/

/** The built-in disparity study's pipeline file. */
export const BUILTIN_PIPELINE = fileURLToPath(new URL('../pipelines/disparity.yaml', import.meta.url));

/** The built-in study's experiment kinds (the registry `langquant run` uses). */
export function studyRegistry(): Promise<KindRegistry> {
  return KindRegistry.load([fileURLToPath(new URL(`./study/kinds${EXT}`, import.meta.url))]);
}

/**
 * Per-token NLL (nats) of each sequence of token ids, scored whole from position 0 as `langquant nll
 * --ids` does: nll[t] = −log softmax(logits[t])[ids[t+1]]. Each sequence needs ≥ 2 ids.
 */
export async function scoreIds(
  engine: Engine,
  sequences: readonly ArrayLike<number>[],
): Promise<{ length: number; nll: Float64Array; meanNll: number }[]> {
  const out: { length: number; nll: Float64Array; meanNll: number }[] = [];
  for (const seq of sequences) {
    const ids = Int32Array.from(seq);
    const { nll } = await engine.score({ ids });
    let sum = 0; // float64
    for (let t = 0; t < nll.length; t++) sum += nll[t];
    out.push({ length: ids.length, nll, meanNll: sum / nll.length });
  }
  return out;
}

/** What `langquant plan` shows: order, fingerprints, what is up to date in `runDir`, expected runtimes. */
export function planRun(spec: PipelineSpec, runDir: string, selection: Selection = {}): Plan {
  const store = Store.openReadOnly(runDir);
  try {
    return planPipeline(spec, resolveInputs(spec, store), storedResults(store), selection);
  } finally {
    store?.close();
  }
}
