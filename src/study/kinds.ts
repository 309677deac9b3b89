// The disparity study's experiment kinds, loaded by the CLI (src/cli/commands/run.ts) and handed
// to the pipeline engine, with the code rules of ./rules.ts. One module per kind; metric names in ./metrics.ts.
// Reference: issue 7; DESIGN.md §7.

import { setDefaultThreads } from '../engine/ort/runtime.ts';
import type { Kind } from '../pipeline/kind.ts';
import { baseline } from './baseline.ts';
import { preservationControls } from './controls.ts';
import { disparity } from './disparity.ts';
import { layerPreservation } from './layer-preservation.ts';
import { layerSensitivity } from './layers.ts';
import { method } from './method.ts';
import { optimalPreservation } from './optimal.ts';
import { preserve } from './preserve.ts';
import { quantize } from './quantize.ts';
import { validate } from './validate.ts';
import { withScoreCacheLog } from './score-cache.ts';

/**
 * A kind whose onnxruntime sessions use the cores its replicate was given (KindContext.cpus: with
 * `--jobs N` each replicate has its share of the machine) instead of every core of the machine.
 */
function withJobCores<P>(kind: Kind<P>): Kind<P> {
  return {
    ...kind,
    async run(ctx) {
      setDefaultThreads(ctx.cpus);
      try {
        await kind.run(ctx);
      } finally {
        setDefaultThreads(null);
      }
    },
  };
}

// Each kind's run ends with one line on what the run folder's score cache saved (./score-cache.ts).
export const kinds: Kind[] = [
  baseline,
  quantize,
  disparity,
  preserve,
  optimalPreservation,
  layerSensitivity,
  layerPreservation,
  validate,
  preservationControls,
  method,
].map((k: Kind) => withJobCores(withScoreCacheLog(k)));

/** Research-question rules written in code (Q2), named by `rule: { fn: … }` in the pipeline file. */
export { rules } from './rules.ts';
/** The study's corpus settings, checked by the pipeline engine when a pipeline file is loaded. */
export { StudyCorpusSettings as corpus } from './texts.ts';
