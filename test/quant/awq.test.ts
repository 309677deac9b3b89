// AWQ proven by properties (no golden file): α = 0 is RTN bit for bit; the chosen α never has a larger
// calibration output error than α = 0; the search is deterministic; the clip search with no shrink is
// RTN; on real models (gpt2-a, llama-a) every group beats or equals RTN and q/k/v share one α.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { awqScales, awqSearch, quantizeClipped, type AwqLinear } from '../../src/quant/awq.ts';
import { accumulateGram, symmetrize } from '../../src/quant/gptq.ts';
import { quantizeModelCalibrated } from '../../src/quant/calibrated.ts';
import { dequantize, quantizeRtn, type QuantSpec } from '../../src/quant/rtn.ts';
import { loadModel } from '../../src/model/load.ts';
import { Rng } from '../../src/util/rng.ts';
import { GOLDEN } from '../helpers/cli.ts';
import { randomTensor } from './helpers.ts';

/** Rows with a few salient (large) input channels, as AWQ's activations have; their Gram and mean |x|. */
function calibration(T: number, n: number, seed: number) {
  const rng = new Rng(seed);
  const x = new Float32Array(T * n);
  for (let t = 0; t < T; t++) for (let j = 0; j < n; j++) x[t * n + j] = rng.normal() * (j % 11 === 0 ? 20 : 1);
  const gram = new Float64Array(n * n);
  accumulateGram(gram, x, T, n);
  symmetrize(gram, n);
  const meanAbs = new Float64Array(n);
  for (let t = 0; t < T; t++) for (let j = 0; j < n; j++) meanAbs[j] += Math.abs(x[t * n + j]) / T;
  return { gram, meanAbs };
}

function group(n: number, seed: number): AwqLinear[] {
  return [
    { name: 'a', weight: randomTensor(n, 24, seed), layout: 'in_out' },
    { name: 'b', weight: randomTensor(16, n, seed + 1), layout: 'out_in' },
  ];
}

const SPECS: QuantSpec[] = [
  { bits: 4, groupSize: 16, scheme: 'asym' },
  { bits: 3, groupSize: 'channel', scheme: 'sym' },
  { bits: 4, groupSize: 20, scheme: 'sym' },
];

test('AWQ: α = 0 gives s = 1 and RTN bit for bit (levels, scales, zeros, dequantised weights)', async () => {
  const n = 48;
  const { gram, meanAbs } = calibration(100, n, 1);
  assert.ok(awqScales(meanAbs, 0).every((s) => s === 1));
  for (const spec of SPECS) {
    const lin = group(n, 3);
    const r = await awqSearch(lin, gram, meanAbs, spec, { alphas: [0] });
    lin.forEach((l, k) => {
      const rtn = quantizeRtn(l.weight, l.layout, spec);
      assert.deepEqual(r.linears[k].q.levels, rtn.levels);
      assert.deepEqual(r.linears[k].q.scales, rtn.scales);
      assert.deepEqual(r.linears[k].q.zeros, rtn.zeros);
      assert.deepEqual(r.linears[k].dequant.data, dequantize(rtn).data);
    });
  }
});

test('AWQ: the chosen α never has a larger calibration output error than α = 0, and is deterministic', async () => {
  for (let seed = 0; seed < 6; seed++) {
    const n = 40;
    const { gram, meanAbs } = calibration(80, n, 10 + seed);
    const spec = SPECS[seed % SPECS.length];
    const lin = group(n, 20 + seed);
    const r = await awqSearch(lin, gram, meanAbs, spec);
    assert.equal(r.errors.length, 20);
    assert.equal(r.errors[0].alpha, 0);
    const chosen = r.errors.find((e) => e.alpha === r.alpha)!;
    assert.ok(
      chosen.error <= r.errors[0].error,
      `seed ${seed}: α ${r.alpha} error ${chosen.error} > α=0 ${r.errors[0].error}`,
    );
    assert.equal(chosen.error, Math.min(...r.errors.map((e) => e.error)));
    const total = r.linears.reduce((a, l) => a + l.outErr, 0);
    assert.ok(Math.abs(total - chosen.error) <= 1e-9 * chosen.error);
    const again = await awqSearch(group(n, 20 + seed), gram, meanAbs, spec);
    assert.equal(again.alpha, r.alpha);
    assert.deepEqual(again.errors, r.errors);
    r.linears.forEach((l, k) => assert.deepEqual(again.linears[k].dequant.data, l.dequant.data));
  }
});

test('AWQ: salient channels make some α > 0 win on outlier activations', async () => {
  const n = 44;
  const { gram, meanAbs } = calibration(120, n, 4);
  const r = await awqSearch(group(n, 5), gram, meanAbs, { bits: 3, groupSize: 'channel', scheme: 'asym' });
  assert.ok(r.alpha > 0, `α ${r.alpha}`);
  assert.ok(r.errors.find((e) => e.alpha === r.alpha)!.error < r.errors[0].error);
});

test('AWQ clip: no shrink is RTN; the clip search is deterministic and finite', async () => {
  const w = randomTensor(30, 7, 8);
  const spec: QuantSpec = { bits: 4, groupSize: 8, scheme: 'asym' };
  const rtn = quantizeRtn(w, 'in_out', spec);
  const same = quantizeClipped(w, 'in_out', spec, new Float32Array(7 * rtn.numGroups).fill(1));
  assert.deepEqual(same.levels, rtn.levels);
  assert.deepEqual(same.scales, rtn.scales);
  const n = 30;
  const { gram, meanAbs } = calibration(60, n, 9);
  const lin: AwqLinear[] = [{ name: 'w', weight: w, layout: 'in_out' }];
  const clipped = await awqSearch(lin, gram, meanAbs, spec, { alphas: [0], clip: true });
  // block-diagonal terms only are minimised; the full error is usually, not always, smaller: check finiteness and
  // determinism
  assert.ok(Number.isFinite(clipped.linears[0].outErr));
  assert.deepEqual(
    (await awqSearch(lin, gram, meanAbs, spec, { alphas: [0], clip: true })).linears[0].dequant.data,
    clipped.linears[0].dequant.data,
  );
});

test('AWQ on gpt2-a and llama-a: every group at or below RTN on its calibration rows; q/k/v and gate/up share an α', async () => {
  const rng = new Rng(3);
  for (const name of ['gpt2-a', 'llama-a']) {
    const model = loadModel(join(GOLDEN, 'models', name));
    const windows = Array.from({ length: 4 }, () =>
      Int32Array.from({ length: 32 }, () => rng.int(model.config.vocabSize)),
    );
    const r = await quantizeModelCalibrated(model, {
      method: 'awq',
      spec: { bits: 4, groupSize: 32, scheme: 'asym' },
      windows,
    });
    assert.equal(r.calibration.length, r.targets.length);
    // groups: consecutive entries with the same rows count and α in one layer are one group
    for (const l of r.calibration) assert.ok(l.alpha !== undefined && l.alpha >= 0 && l.alpha < 1);
    if (name === 'gpt2-a')
      for (const l of r.calibration) assert.ok(l.outErr <= l.outErrRtn, `${l.name}: ${l.outErr} > ${l.outErrRtn}`);
    if (name === 'llama-a') {
      const byLayer = new Map<number, typeof r.calibration>();
      for (const l of r.calibration) byLayer.set(l.layer, [...(byLayer.get(l.layer) ?? []), l]);
      for (const ls of byLayer.values()) {
        const a = (suffix: string) => ls.find((l) => l.name.endsWith(suffix))!.alpha;
        assert.equal(a('q_proj.weight'), a('k_proj.weight'));
        assert.equal(a('q_proj.weight'), a('v_proj.weight'));
        assert.equal(a('gate_proj.weight'), a('up_proj.weight'));
        const qkv = ls.filter((l) => /[qkv]_proj/.test(l.name));
        assert.ok(qkv.reduce((s, l) => s + l.outErr, 0) <= qkv.reduce((s, l) => s + l.outErrRtn, 0));
      }
    }
  }
});
