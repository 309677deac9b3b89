// C-002's layer-specific plan (src/study/layer-preservation.ts, layerPlanShares): no block is asked to
// keep a share ≥ 1 (the quantisation engine refuses it), the excess over the 99 % cap goes to the next
// most sensitive blocks, and the plan keeps the same number of weights as the share asks — checked on
// constructed cases and on the shipped 4-block mini model through the real quantisation engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { comparisonBudgets, layerPlanShares, MAX_BLOCK_SHARE, rankBlocks } from '../../src/study/layer-preservation.ts';
import { quantizeModel } from '../../src/quant/apply.ts';
import { loadModel } from '../../src/model/load.ts';

const sum = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);

test('share 0.2 over 5 blocks with one critical block: capped at 99 %, the excess spills to the next most sensitive block', () => {
  const ranking = rankBlocks([0.001, 0.003, 0.009, 0.002, NaN]); // block 2 most sensitive, then 1, 3, 0; NaN last
  assert.deepEqual(ranking, [2, 1, 3, 0, 4]);
  const plan = layerPlanShares(0.2, 5, [2], ranking);
  for (const s of plan.shares.values()) assert.ok(s < 1, `share ${s} must stay below 1`);
  assert.equal(plan.shares.get(2), MAX_BLOCK_SHARE);
  assert.deepEqual(plan.spill, [1]);
  assert.ok(Math.abs(plan.shares.get(1)! - 0.01) < 1e-12);
  assert.ok(Math.abs(sum(plan.shares) - 0.2 * 5) < 1e-12, 'the plan keeps share × L block-equivalents');
});

test('a large share fills several blocks to the cap in sensitivity order; an even split below the cap spills nothing', () => {
  const plan = layerPlanShares(0.6, 4, [3], [3, 0, 2, 1]);
  assert.deepEqual(
    [...plan.shares],
    [
      [3, 0.99],
      [0, 0.99],
      [2, 0.6 * 4 - 2 * 0.99],
    ],
  );
  assert.deepEqual(plan.spill, [0, 2]);
  const even = layerPlanShares(0.05, 12, [1, 7], [7, 1, 0]);
  assert.deepEqual([...even.shares.keys()], [1, 7]);
  for (const s of even.shares.values()) assert.ok(Math.abs(s - 0.3) < 1e-12);
  assert.deepEqual(even.spill, []);
  assert.throws(() => layerPlanShares(0.995, 4, [0], [0, 1, 2, 3]), /must be in \(0, 0\.99\].*lower params\.share/);
});

test('on the 4-block mini model: the old rule (min(1, share·L/k)) is refused by the engine, the capped plan quantises at the same kept count as uniform', () => {
  const model = loadModel(fileURLToPath(new URL('../../models/gpt2-mini/', import.meta.url)));
  const L = model.config.numLayers;
  assert.equal(L, 4);
  const spec = { bits: 4, scheme: 'asym' as const, groupSize: 128 };
  const share = 0.25; // share·L / 1 critical block = 1.0
  const old = Math.min(1, (share * L) / 1);
  assert.throws(
    () =>
      quantizeModel(model, {
        spec,
        preserve: {
          criterion: 'magnitude',
          granularity: 'weight',
          budget: { kind: 'map', shares: new Map([[0, old]]), rest: 0 },
          stats: null,
        },
      }),
    /share of layer 0 must be a number in \[0, 1\)/,
  );
  const plan = layerPlanShares(share, L, [0], [0, 2, 1, 3]);
  const q = quantizeModel(model, {
    spec,
    preserve: {
      criterion: 'magnitude',
      granularity: 'weight',
      budget: { kind: 'map', shares: plan.shares, rest: 0 },
      stats: null,
    },
  });
  // Equal blocks: the plan keeps (up to flooring per tensor) a quarter of all block weights.
  const kept = q.account.kept / q.account.weights;
  assert.ok(Math.abs(kept - share) < 0.002, `kept share ${kept}`);
  const u = quantizeModel(model, {
    spec,
    preserve: { criterion: 'magnitude', granularity: 'weight', budget: { kind: 'global', share: kept }, stats: null },
  });
  assert.ok(Math.abs(u.account.kept - q.account.kept) <= 1, `${u.account.kept} vs ${q.account.kept}`);
  assert.ok(Math.abs(u.account.bitsPerWeight - q.account.bitsPerWeight) < 1e-3);
});

test('uniform means uniform: the comparison arm keeps the same share in every block, the global top-k arm may not', () => {
  const model = loadModel(fileURLToPath(new URL('../../models/gpt2-mini/', import.meta.url)));
  const spec = { bits: 4, scheme: 'asym' as const, groupSize: 128 };
  const b = comparisonBudgets(0.05);
  const perBlock = (budget: typeof b.uniform) => {
    const q = quantizeModel(model, {
      spec,
      preserve: { criterion: 'magnitude', granularity: 'weight', budget, stats: null },
    });
    const kept = new Map<number, number>();
    const size = new Map<number, number>();
    for (const t of q.tensors) {
      kept.set(t.layer!, (kept.get(t.layer!) ?? 0) + t.kept);
      size.set(t.layer!, (size.get(t.layer!) ?? 0) + t.shape.reduce((x, y) => x * y, 1));
    }
    return [...kept.keys()].sort().map((l) => kept.get(l)! / size.get(l)!);
  };
  const uniform = perBlock(b.uniform);
  for (const s of uniform) assert.ok(Math.abs(s - 0.05) < 1e-3, `uniform arm keeps ${uniform.join(', ')} per block`);
  // A global top-k by magnitude does not spread evenly over the blocks of the trained mini model.
  const global = perBlock(b.global);
  assert.ok(Math.max(...global) - Math.min(...global) > 0.01, `global arm per block ${global.join(', ')}`);
});
