// A-001 `baseline`: per-language full-precision NLL, token perplexity, bits per byte and character,
// tokens, bytes and characters of the replicate's evaluation text, for one model alias.
// Reference: DESIGN.md §4 (measurement); metric names in ./metrics.ts (BASELINE_METRICS).

import { z } from 'zod';
import { defaultConsistency, defineKind } from '../pipeline/kind.ts';
import { EvalParams } from './params.ts';
import { evaluationTexts, studyTexts } from './texts.ts';
import { openModel, scoreUnits, visitOf } from './compare.ts';
import { recordBaseline } from './record.ts';

export const baseline = defineKind({
  name: 'baseline',
  description: 'per-language NLL, token perplexity, bits per byte and character at full precision',
  params: z.strictObject({ ...EvalParams }),
  // Scoring units through the run's score cache is most of its time: a helper lane saves it.
  helpers: true,
  keyMetrics: ['bpb', 'ppl', 'tokens'],
  models: (p) => [p.model],
  // Replicates draw different evaluation units: the per-language bpb ranking must hold (ρ ≥ 0.8).
  consistency: (reps) => defaultConsistency(reps, ['bpb']),
  async run(ctx) {
    const p = ctx.params;
    const t = studyTexts(ctx, p.maxUnits, p.model);
    const m = await openModel(ctx, p.model, p);
    try {
      const texts = evaluationTexts(ctx, t, m);
      const progress = (d: number, n: number) => ctx.progress('languages', d, n);
      const scores = await scoreUnits(m.engine, texts, m.window, progress, visitOf(ctx));
      recordBaseline(ctx, p.model, scores, t.langs);
      ctx.log(
        `${p.model}: ${t.langs.all.length} languages × ${t.evaluation.length} units, context ${m.window.context}, stride ${m.window.stride}, engine ${m.engine.name}`,
      );
    } finally {
      await m.engine.dispose();
    }
  },
});
