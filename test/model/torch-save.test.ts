// A pytorch_model.bin written by torch.save itself (PyTorch 1.13, zip format; a copy of
// ../shared/golden/models/gpt2-a-torch-bin): the class prefix, lm_head.weight sharing the embedding's
// storage, stale attention mask buffers and float16 storage. Loaded beside the files the other tests
// build, and scored against its reference.json (NLLs in float64 from the float16 weights, by an
// independent forward that matches transformers to ~1e-5): per-token NLL within 1e-4.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { scoreReference } from '../../src/engine/reference.ts';
import { loadModel } from '../../src/model/load.ts';

const DIR = fileURLToPath(new URL('../fixtures/torch-save/gpt2-a/', import.meta.url));

test('torch.save gpt2-a: loads (prefix, shared lm_head, stale buffers, float16) and scores the reference NLLs', () => {
  const ref = JSON.parse(readFileSync(`${DIR}reference.json`, 'utf8')) as {
    sequences: { input_ids: number[]; nll: number[]; mean_nll: number }[];
  };
  const model = loadModel(DIR);
  assert.equal(model.config.numLayers, 2);
  let worst = 0;
  for (const [i, s] of ref.sequences.entries()) {
    const r = scoreReference(model, { ids: Int32Array.from(s.input_ids) });
    assert.equal(r.nll.length, s.nll.length, `sequence ${i}: scored positions`);
    let sum = 0;
    for (let t = 0; t < s.nll.length; t++) {
      const d = Math.abs(r.nll[t] - s.nll[t]);
      worst = Math.max(worst, d);
      assert.ok(d <= 1e-4, `sequence ${i} token ${t}: ${r.nll[t]} vs ${s.nll[t]} (|Δ| ${d})`);
      sum += r.nll[t];
    }
    assert.ok(Math.abs(sum / s.nll.length - s.mean_nll) <= 1e-5, `sequence ${i}: mean NLL`);
  }
  assert.ok(worst > 0 || ref.sequences.length > 0);
});
