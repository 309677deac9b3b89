// Calibration statistics on the onnxruntime engine (collectActivationStatsFast): the same
// diag(XᵀX) per block linear as the reference forward, within float32 accumulation error, for
// every architecture the ort engine builds; the reference engine is used when asked for.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import { collectActivationStats, collectActivationStatsFast } from '../../src/quant/calibrate.ts';
import { Rng } from '../../src/util/rng.ts';
import { GOLDEN } from '../helpers/cli.ts';

for (const name of [
  'gpt2-a',
  'llama-a',
  'opt-a',
  'gpt_neox-a',
  'bloom-a',
  'xglm-a',
  'gemma-a',
  'qwen2-a',
  'mistral-a',
]) {
  test(`${name}: ort calibration statistics equal the reference forward's`, async () => {
    const model = loadModel(join(GOLDEN, 'models', name));
    const rng = new Rng(11);
    const seqs = [40, 23].map((n) => Array.from({ length: n }, () => rng.int(model.config.vocabSize)));
    const opts = { context: 16, maxTokens: 60 };
    const ref = collectActivationStats(model, seqs, opts);
    const ort = await collectActivationStatsFast(model, seqs, { ...opts, engine: 'ort', threads: 1 });
    assert.equal(ort.tokens, ref.tokens);
    assert.deepEqual([...ort.sumSq.keys()].sort(), [...ref.sumSq.keys()].sort());
    for (const [n, r] of ref.sumSq) {
      const o = ort.sumSq.get(n)!;
      assert.equal(o.length, r.length, n);
      let worst = 0;
      for (let j = 0; j < r.length; j++) worst = Math.max(worst, Math.abs(o[j] - r[j]) / (Math.abs(r[j]) + 1e-6));
      assert.ok(worst < 1e-4, `${n}: relative difference ${worst}`);
    }
    const viaRef = await collectActivationStatsFast(model, seqs, { ...opts, engine: 'reference' });
    assert.deepEqual(viaRef.sumSq, ref.sumSq);
  });
}
