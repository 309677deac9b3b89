// Calibration statistics and layer analysis (one block quantised / all but one), checked against
// direct forward passes of models quantised the same way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import { forward } from '../../src/model/forward.ts';
import { scoreReference } from '../../src/engine/reference.ts';
import { quantizeModel } from '../../src/quant/apply.ts';
import { calibrationWindows, collectActivationStats, statsFromJSON, statsToJSON } from '../../src/quant/calibrate.ts';
import { HiddenStateCache, layerEngine, layerPlans } from '../../src/quant/layers.ts';
import { selectPreserved } from '../../src/quant/preserve.ts';
import { selectTargets } from '../../src/quant/scope.ts';
import { Rng } from '../../src/util/rng.ts';
import { GOLDEN } from '../helpers/cli.ts';

const model = loadModel(join(GOLDEN, 'models/gpt2-a'));
const rng = new Rng(42);
const ids = (n: number) => Array.from({ length: n }, () => rng.int(1000));

test('calibrationWindows: consecutive windows of at most `context`, the token limit shared fairly', () => {
  const w = calibrationWindows(
    [
      [1, 2, 3, 4, 5],
      [6, 7, 8],
    ],
    2,
    7,
  );
  assert.deepEqual(
    w.map((x) => [...x]),
    [[1, 2], [3, 4], [6, 7], [8]],
  );
  const all = calibrationWindows(
    [
      [1, 2, 3, 4, 5],
      [6, 7, 8],
    ],
    2,
    100,
  );
  assert.deepEqual(
    all.map((x) => [...x]),
    [[1, 2], [3, 4], [5], [6, 7], [8]],
  );
  // three texts, limit 6: each keeps its first 2 tokens
  const fair = calibrationWindows(
    [
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10, 11, 12],
    ],
    4,
    6,
  );
  assert.deepEqual(
    fair.map((x) => [...x]),
    [
      [1, 2],
      [5, 6],
      [9, 10],
    ],
  );
});

test('activation statistics: diag(XᵀX) of every block linear input, one pass, additive over windows', () => {
  const a = ids(20);
  const b = ids(13);
  const s = collectActivationStats(model, [a, b], { context: 16 });
  assert.equal(s.tokens, 33);
  assert.equal(s.sumSq.size, 8);
  // naive: keep every input row and sum squares
  const naive = new Map<string, Float64Array>();
  for (const w of calibrationWindows([a, b], 16, 1e9)) {
    forward(model, w, {
      onLinearInput(name, x, T, inDim) {
        if (!naive.has(name)) naive.set(name, new Float64Array(inDim));
        const acc = naive.get(name)!;
        for (let t = 0; t < T; t++) for (let j = 0; j < inDim; j++) acc[j] += x[t * inDim + j] ** 2;
      },
    });
  }
  for (const [name, v] of s.sumSq) {
    assert.deepEqual(v, naive.get(name), name);
    assert.equal(v.length, name.includes('mlp.c_proj') ? 256 : 64);
    assert.ok(v.every((x) => x > 0));
  }
  assert.deepEqual(statsFromJSON(statsToJSON(s)).sumSq, s.sumSq);
  assert.throws(() => collectActivationStats(model, [[]]), /no tokens/);
  assert.throws(
    () => collectActivationStats(model, [a], { context: 1000 }),
    /context must be an integer from 1 to 128/,
  );
});

test('activation preservation on gpt2-a prefers the inputs with large activations', () => {
  const stats = collectActivationStats(model, [ids(64)]);
  const targets = selectTargets(model, { blocks: true, output: 'none', embeddings: false });
  const inputs = targets.map((target) => ({ target, weight: model.weights.get(target.name)! }));
  const sel = selectPreserved(inputs, {
    criterion: 'activation',
    granularity: 'column',
    budget: { kind: 'layer', share: 0.05 },
    stats,
  });
  for (let i = 0; i < inputs.length; i++) {
    const s = stats.sumSq.get(targets[i].name)!;
    const median = [...s].sort((x, y) => x - y)[s.length >> 1];
    const cols = [...sel[i].columns!];
    // a per-layer budget goes to the best columns of the layer: some matrices may get none
    assert.ok(
      cols.filter((j) => s[j] >= median).length >= cols.length / 2,
      `${targets[i].name}: kept columns mostly high-activation`,
    );
  }
  assert.ok(sel.every((x) => x.count <= 0.05 * 49152) && sel.some((x) => x.count > 0));
  const r = quantizeModel(model, {
    spec: { bits: 3, groupSize: 32, scheme: 'asym' },
    preserve: { criterion: 'hessian', granularity: 'weight', budget: { kind: 'global', share: 0.05 }, stats },
  });
  assert.ok(r.account.kept > 0);
});

test('layer analysis: mixed engines equal direct scoring, and full-precision states are computed once per window', async () => {
  const spec = { bits: 3, groupSize: 16, scheme: 'asym' as const };
  const q = quantizeModel(model, { spec }).model;
  const cache = new HiddenStateCache(model);
  const windows = [Int32Array.from(ids(30)), Int32Array.from(ids(17))];
  for (const mode of ['one', 'all-but-one'] as const) {
    for (const plan of layerPlans(2, mode)) {
      const direct = quantizeModel(model, {
        spec,
        scope: { blocks: true, layers: plan.quantised, output: 'none', embeddings: false },
      }).model;
      const engine = layerEngine(model, q, plan.quantised, cache);
      for (const w of windows) {
        const got = await engine.score({ ids: w, wantLogProbs: true });
        const want = scoreReference(direct, { ids: w, wantLogProbs: true });
        assert.deepEqual(got.nll, want.nll, `${plan.label}`);
        assert.deepEqual(got.top1, want.top1);
        assert.deepEqual(got.logProbs, want.logProbs);
      }
    }
  }
  assert.equal(cache.computed, 2, 'each window ran through the full-precision blocks once');
  assert.deepEqual(
    layerPlans(3, 'all-but-one').map((p) => p.quantised),
    [
      [1, 2],
      [0, 2],
      [0, 1],
    ],
  );
  // nothing quantised = the full-precision model; everything = the quantised model
  const none = await layerEngine(model, q, [], cache).score({ ids: windows[0] });
  assert.deepEqual(none.nll, scoreReference(model, { ids: windows[0] }).nll);
  const all = await layerEngine(model, q, [0, 1], cache).score({ ids: windows[0] });
  assert.deepEqual(all.nll, scoreReference(q, { ids: windows[0] }).nll);
});
