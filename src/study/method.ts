// E-001..E-003 `method`: degradation per language under a calibrated method (GPTQ, AWQ; src/quant/
// calibrated.ts) with a chosen calibration source (./calibration-source.ts: high, low, all, a list, or
// target = one quantised model per evaluated language, each on its own language's text), at equal
// calibration budgets. Records what `quantize` records (ΔBPB and KL per language with intervals, bits
// per weight, units.json) plus, against the RTN arm named by `baseline` (A-002: same grid, same
// replicate, same units), the paired interval of the gap reduction: [low mean of (ΔBPB_RTN − ΔBPB_method)]
// − [high mean of the same] (positive: the method removes more low- than high-resource loss), and the
// low- and high-resource reductions themselves. Q5 reads `gap_reduction{,_lo,_hi}`. Each quantised model
// (one per set; per language for `target`) is kept in the run folder's cache (./calibrated-cache.ts)
// and reused wherever the same model, method, parameters and calibration tokens come again.
// Reference: issue 13 "Phase E"; ./controls.ts (gapNarrowing).

import { z } from 'zod';
import { defaultConsistency, defineKind } from '../pipeline/kind.ts';
import { deriveSeed } from '../util/rng.ts';
import { cachedCalibrated } from './calibrated-cache.ts';
import { calibrationBudget, calibrationSets, CalibrationSource, setWindows } from './calibration-source.ts';
import {
  comparisonsFromJson,
  compareTreated,
  EvalParams,
  openModel,
  QuantParams,
  recordDegradation,
  recordDisparity,
  studyTexts,
  UNITS_FILE,
  writeUnits,
  type Comparisons,
} from './common.ts';
import { gapNarrowing } from './controls.ts';
import { depArtifactJson } from './deps.ts';

export const method = defineKind({
  name: 'method',
  description: 'degradation per language under GPTQ or AWQ with a calibration language source, against the RTN arm',
  params: z.strictObject({
    ...EvalParams,
    ...QuantParams,
    method: z.enum(['gptq', 'awq']),
    calibration: CalibrationSource.default('all'),
    /** Calibration tokens per source before the equal-budget rule (./calibration-source.ts). */
    calibrationTokens: z.number().int().min(16).default(4096),
    actOrder: z.boolean().default(false),
    clip: z.boolean().default(false),
    /** The RTN experiment on the same grid whose units.json is the paired baseline (in dependsOn). */
    baseline: z.string().default('A-002'),
  }),
  keyMetrics: ['delta_bpb', 'kl_mean', 'gap_reduction', 'bits_per_weight'],
  models: (p) => [p.model],
  consistency: (reps) => defaultConsistency(reps, ['delta_bpb'], 0.5),
  async run(ctx) {
    const p = ctx.params;
    const t = studyTexts(ctx, p.maxUnits, p.model);
    const spec = { bits: p.bits, scheme: p.scheme, groupSize: p.groupSize };
    const merged: Comparisons = new Map();
    let bits = 0;
    let tokens = 0;
    // One load of the model, one full-precision engine (registered with the score cache, so every set
    // takes the full-precision side of its units from) and one tokenisation of the
    // calibration texts for every set; each set's quantised model comes from the run folder's cache
    // when an earlier replicate or experiment calibrated the same one.
    const base = await openModel(ctx, p.model, p);
    const budget = calibrationBudget(t, base, p.calibrationTokens);
    const limited = budget.limitedBy.length ? `, set by the calibration text of ${budget.limitedBy.join(', ')}` : '';
    const cap = `cap ${p.calibrationTokens}${limited}`;
    ctx.log(`${p.model}: equal calibration budget ${budget.budget} tokens per source (${cap})`);
    const sets = calibrationSets(t.langs, p.calibration);
    let reused = 0;
    try {
      for (const [k, set] of sets.entries()) {
        const cw = setWindows(budget, set, base.window.context);
        const opts = {
          method: p.method,
          spec,
          windows: cw.windows,
          gptq: { actOrder: p.actOrder },
          awq: { clip: p.clip },
          // the forward passes on the engine the experiment scores with (onnxruntime, or the reference)
          engine: base.engine.name,
        };
        const q = await cachedCalibrated(ctx.cacheDir, base.key, base.model, opts, (s) => ctx.log(s));
        if (q.reused) reused++;
        const scoped = set.target !== undefined ? { ...t, langs: { ...t.langs, all: [set.target] } } : t;
        // With several sets (`target`: one per language) the progress names the set, not only its languages.
        const progress =
          sets.length > 1
            ? (label: string, d: number, n: number) =>
                ctx.progress(`calibration ${set.label} (set ${k + 1}/${sets.length}), ${label}`, d, n)
            : ctx.progress.bind(ctx);
        const { evaluation } = await compareTreated(
          { ...ctx, progress },
          scoped,
          base,
          q.result.model,
          { ...p, selection: false },
          { keepReference: true },
        );
        for (const [lang, units] of evaluation) {
          if (set.target === undefined || lang === set.target) merged.set(lang, units);
        }
        bits = q.result.account.bitsPerWeight;
        tokens = cw.tokens;
        const how = q.reused ? "reused from the run folder's cache" : 'calibrated';
        const grid = `${p.method.toUpperCase()} INT${p.bits} g${p.groupSize}`;
        ctx.log(`${p.model}: ${grid}, calibration ${set.label}: ${cw.tokens} tokens, ${how}`);
      }
    } finally {
      await base.engine.dispose();
    }
    if (reused) {
      ctx.log(`${p.model}: ${reused} of ${sets.length} quantised model(s) reused from the run folder's cache`);
    }
    recordDegradation(ctx, p.model, merged, t.langs, { seed: ctx.seed, resamples: p.resamples, method: p.interval });
    recordDisparity(ctx, p.model, merged, t.langs, { seed: ctx.seed, resamples: p.resamples, method: p.interval });
    ctx.metric('bits_per_weight', bits, { model: p.model });
    ctx.metric('calibration_tokens', tokens, { model: p.model });
    ctx.metric('calibration_budget', budget.budget, { model: p.model });
    writeUnits(ctx, merged);
    if (ctx.deps.ids.includes(p.baseline)) {
      const base = comparisonsFromJson(depArtifactJson(ctx, p.baseline, UNITS_FILE));
      const o = { seed: deriveSeed(ctx.seed, 'method-gap'), resamples: p.resamples, method: p.interval };
      const g = gapNarrowing(base, merged, t.langs, o);
      ctx.metric('gap_reduction', g.estimate, { model: p.model });
      ctx.metric('gap_reduction_lo', g.lo, { model: p.model });
      ctx.metric('gap_reduction_hi', g.hi, { model: p.model });
    } else ctx.log(`${ctx.experiment.id}: ${p.baseline} is not among dependsOn; no gap reduction recorded`);
  },
});
