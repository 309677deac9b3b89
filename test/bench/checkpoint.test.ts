// The benchmarks' checkpoint writer (bench/checkpoint.ts), on tiny shapes of each architecture the study
// bench and the Llama bench use: langquant loads the folder (names, shapes, config.json fields, BF16),
// its tokenizer encodes text, both engines score it to the same finite NLL, and a second call reuses
// the folder while a changed seed rewrites it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  SHAPES,
  parameterCount,
  writeCheckpoint,
  type BenchShape,
  type BenchTokenizer,
} from '../../bench/checkpoint.ts';
import { createEngine } from '../../src/engine/select.ts';
import { loadModel } from '../../src/model/load.ts';
import { loadTokenizer } from '../../src/model/tokenizer.ts';

const tiny = { positions: 64, hidden: 32, layers: 2, heads: 4, intermediate: 48 };
const cases: { name: string; shape: BenchShape; tokenizer: BenchTokenizer }[] = [
  { name: 'gpt2', shape: { ...SHAPES['gpt2-small'], ...tiny, kvHeads: 4 }, tokenizer: 'gpt2' },
  { name: 'opt', shape: { ...SHAPES['opt-125m'], ...tiny, kvHeads: 4 }, tokenizer: 'opt' },
  { name: 'gpt_neox', shape: { ...SHAPES['pythia-160m'], ...tiny, kvHeads: 4 }, tokenizer: 'gpt2' },
  {
    name: 'llama (BF16, grouped-query)',
    shape: { ...SHAPES['tinyllama-1.1b'], ...tiny, kvHeads: 2, vocab: 1000 },
    tokenizer: 'none',
  },
];

for (const c of cases) {
  test(`a tiny ${c.name} checkpoint loads and scores finitely`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'langquant-benchckpt-'));
    try {
      writeCheckpoint(dir, c.shape, { seed: 7, tokenizer: c.tokenizer });
      const model = loadModel(dir);
      assert.equal(model.config.arch, c.shape.arch);
      assert.equal(model.config.numLayers, 2);
      assert.equal(model.config.numKvHeads, c.shape.kvHeads);
      const width = c.shape.dtype === 'F32' ? 4 : 2;
      assert.ok(statSync(join(dir, 'model.safetensors')).size > width * parameterCount(c.shape));
      let ids: Int32Array;
      if (c.tokenizer === 'none') ids = Int32Array.from([1, 17, 400, 999, 3, 250]);
      else {
        const tok = await loadTokenizer(dir);
        ids = Int32Array.from(tok.encode('All human beings are born free and equal in dignity and rights.'));
        if (c.tokenizer === 'opt') assert.equal(tok.bos.byDefault, true);
      }
      assert.ok(ids.length > 5);
      const ort = await createEngine(model, 'ort');
      const ref = await createEngine(model, 'reference');
      try {
        const a = await ort.score({ ids });
        const b = await ref.score({ ids });
        assert.equal(a.nll.length, ids.length - 1);
        for (let t = 0; t < a.nll.length; t++) {
          assert.ok(Number.isFinite(a.nll[t]) && a.nll[t] > 0, `nll[${t}] = ${a.nll[t]}`);
          assert.ok(Math.abs(a.nll[t] - b.nll[t]) < 1e-4);
        }
        // N(0, 0.02²) weights: close to the uniform NLL log V, as a real model at initialisation
        const mean = a.nll.reduce((s, x) => s + x, 0) / a.nll.length;
        assert.ok(Math.abs(mean - Math.log(c.shape.vocab)) < 1, `mean NLL ${mean} vs log V ${Math.log(c.shape.vocab)}`);
      } finally {
        await ort.dispose();
        await ref.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the writer reuses a folder with the same stamp and rewrites it for another seed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'langquant-benchckpt-'));
  try {
    const shape = cases[0].shape;
    writeCheckpoint(dir, shape, { seed: 1 });
    const first = statSync(join(dir, 'model.safetensors')).mtimeMs;
    writeCheckpoint(dir, shape, { seed: 1 });
    assert.equal(statSync(join(dir, 'model.safetensors')).mtimeMs, first);
    const before = loadModel(dir).weights.get('transformer.wte.weight')?.data;
    writeCheckpoint(dir, shape, { seed: 2 });
    const after = loadModel(dir).weights.get('transformer.wte.weight')?.data;
    assert.ok(before && after);
    assert.notDeepEqual(after, before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
