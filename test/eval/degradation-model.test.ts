// Degradation on a real (golden, tiny) checkpoint through the reference engine: the model against
// itself gives zero, a perturbed copy gives a positive KL, and windows/cache behave as with fakes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { referenceEngine } from '../../src/engine/reference.ts';
import { compareOnText, ReferenceCache, summarizeDegradation } from '../../src/eval/degradation.ts';
import { loadModel } from '../../src/model/load.ts';
import { withWeights } from '../../src/model/model.ts';
import { Rng } from '../../src/util/rng.ts';
import { GOLDEN } from '../helpers/cli.ts';

const model = loadModel(`${GOLDEN}models/gpt2-a`);
const rng = new Rng(11);
const ids = Array.from({ length: 90 }, () => rng.int(model.config.vocabSize));
const text = 'x'.repeat(200);

/** A copy with every element of one block matrix rounded to a coarse grid (a crude "quantisation"). */
function perturbed() {
  const name = 'transformer.h.0.mlp.c_fc.weight';
  const w = model.weights.get(name)!;
  const data = w.data.map((x) => Math.round(x * 8) / 8);
  return withWeights(model, new Map([[name, { data, shape: w.shape }]]));
}

test('gpt2-a against itself: no degradation; against a perturbed copy: positive KL, agreement < 1', async () => {
  const fp = referenceEngine(model);
  const same = summarizeDegradation([
    await compareOnText({ reference: fp, treated: referenceEngine(model), ids, text, context: 32, stride: 16 }),
  ]);
  assert.equal(same.deltaBpb, 0);
  assert.equal(same.klMax, 0);
  assert.equal(same.top1Agreement, 1);
  const cache = new ReferenceCache();
  const q = referenceEngine(perturbed());
  const d1 = summarizeDegradation([
    await compareOnText({ reference: fp, treated: q, ids, text, context: 32, stride: 16, cache, modelKey: 'gpt2-a' }),
  ]);
  const d2 = summarizeDegradation([
    await compareOnText({ reference: fp, treated: q, ids, text, context: 32, stride: 16, cache, modelKey: 'gpt2-a' }),
  ]);
  assert.deepEqual(d2, d1);
  assert.ok(d1.klMean > 0 && Number.isFinite(d1.klMax));
  assert.ok(d1.klP50 <= d1.klP90 && d1.klP90 <= d1.klP99 && d1.klP99 <= d1.klMax);
  assert.ok(d1.top1Agreement < 1 && d1.top1Agreement > 0.3, String(d1.top1Agreement));
  assert.equal(d1.fp.tokens, ids.length - 1);
});
