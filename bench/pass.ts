// One full-precision scoring pass, the study bench's unit of cost: the evaluation units of replicate 0 of
// a pipeline (its corpus, groups and seed), tokenised as the study does (src/study/texts.ts), scored by
// the model on the study's default window and engine (src/study/compare.ts). Run as its own process by
// bench/study.ts: `node --import tsx bench/pass.ts PIPELINE.yaml MODEL_DIR [ENGINE]`; prints one JSON line
// { wallS, cpuS, loadS, tokens, units, languages } where wallS and cpuS cover the scoring alone.

import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { openModel, scoreUnits } from '../src/study/compare.ts';
import { evaluationTexts, studyTexts } from '../src/study/texts.ts';
import { deriveSeed } from '../src/util/rng.ts';

const [pipelineFile, modelDir, engine = 'auto'] = process.argv.slice(2);
const spec = parse(readFileSync(pipelineFile, 'utf8')) as { seed?: number; corpus: Record<string, unknown> };
const groups = spec.corpus.groups as Record<string, string[]>;
const ctx = {
  corpus: spec.corpus,
  groups,
  seed: deriveSeed(spec.seed ?? 0, 'replicate', 0),
  models: { base: { path: modelDir, hash: 'bench' } },
  log: () => {},
  metric: () => {},
};
const t0 = performance.now();
const t = studyTexts(ctx as never, undefined, 'base');
const m = await openModel(ctx as never, 'base', { engine: engine as 'auto' | 'ort' | 'reference' });
const texts = evaluationTexts(ctx as never, t, m);
const loadS = (performance.now() - t0) / 1000;
const c0 = process.cpuUsage();
const w0 = performance.now();
await scoreUnits(m.engine, texts, m.window);
const wallS = (performance.now() - w0) / 1000;
const c = process.cpuUsage(c0);
await m.engine.dispose();
let tokens = 0;
let units = 0;
for (const us of texts.values()) {
  for (const u of us) {
    tokens += u.ids.length;
    units++;
  }
}
console.log(JSON.stringify({ wallS, cpuS: (c.user + c.system) / 1e6, loadS, tokens, units, languages: texts.size }));
