// GPTQ's and AWQ's sequential calibration on onnxruntime (quantizeModelCalibratedFast) against the
// reference forward: per block the same input groups, Σ x xᵀ and Σ|x| within float32 accumulation
// error, on gpt2, llama, opt and gpt_neox; the quantised results (levels, AWQ's α) unchanged or within
// the golden tolerance; AWQ at α = 0 still RTN; the reference engine when asked for.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import type { Model } from '../../src/model/model.ts';
import {
  quantizeModelCalibrated,
  quantizeModelCalibratedFast,
  type BlockInputStats,
  type CalibratedOptions,
} from '../../src/quant/calibrated.ts';
import { gramQuadratic, matMulJs } from '../../src/quant/gptq.ts';
import { dequantize, quantizeRtn } from '../../src/quant/rtn.ts';
import { ortCalibrationPass } from '../../src/engine/ort/blocks.ts';
import { selectTargets, DEFAULT_SCOPE } from '../../src/quant/scope.ts';
import { weight } from '../../src/model/model.ts';
import { Rng } from '../../src/util/rng.ts';
import { GOLDEN } from '../helpers/cli.ts';

const spec = { bits: 4, groupSize: 32, scheme: 'asym' } as const;

function windowsFor(model: Model, seed: number): Int32Array[] {
  const rng = new Rng(seed);
  return [24, 17, 24].map((n) => Int32Array.from({ length: n }, () => rng.int(model.config.vocabSize)));
}

/** Runs both paths, recording every block's statistics. */
async function both(model: Model, opts: CalibratedOptions) {
  const refStats = new Map<number, readonly BlockInputStats[]>();
  const ortStats = new Map<number, readonly BlockInputStats[]>();
  const ref = await quantizeModelCalibrated(model, { ...opts, onStats: (l, s) => refStats.set(l, s) });
  const onStats = (l: number, s: readonly BlockInputStats[]) => ortStats.set(l, s);
  const ort = await quantizeModelCalibratedFast(model, { ...opts, engine: 'ort', threads: 1, onStats });
  return { ref, ort, refStats, ortStats };
}

/** Largest |a − b| relative to the largest |b| (float32 rows, float64 sums). */
function relDiff(a: Float64Array, b: Float64Array): number {
  let d = 0;
  let m = 0;
  for (let k = 0; k < b.length; k++) {
    d = Math.max(d, Math.abs(a[k] - b[k]));
    m = Math.max(m, Math.abs(b[k]));
  }
  return d / (m || 1);
}

for (const name of ['gpt2-a', 'llama-a', 'opt-a', 'gpt_neox-a']) {
  test(`${name}: GPTQ's block statistics on ort equal the reference path's; levels within tolerance`, async () => {
    const model = loadModel(join(GOLDEN, 'models', name));
    const { ref, ort, refStats, ortStats } = await both(model, { method: 'gptq', spec, windows: windowsFor(model, 5) });
    assert.deepEqual([...ortStats.keys()], [...refStats.keys()]);
    assert.equal(refStats.size, model.config.numLayers);
    for (const [l, rs] of refStats) {
      const os = ortStats.get(l)!;
      assert.deepEqual(
        os.map((s) => s.names),
        rs.map((s) => s.names),
        `block ${l}: input groups`,
      );
      rs.forEach((r, k) => {
        const o = os[k];
        assert.equal(o.rows, r.rows);
        const g = relDiff(o.gram, r.gram);
        const a = relDiff(o.absSum, r.absSum);
        assert.ok(g < 1e-5, `block ${l} ${r.names[0]}: Σ x xᵀ differs by ${g}`);
        assert.ok(a < 1e-5, `block ${l} ${r.names[0]}: Σ|x| differs by ${a}`);
      });
    }
    let total = 0;
    let equal = 0;
    for (const [n, q] of ref.quantized) {
      const o = ort.quantized.get(n)!;
      for (let k = 0; k < q.levels.length; k++, total++) if (o.levels[k] === q.levels[k]) equal++;
    }
    assert.ok(equal / total >= 0.999, `${name}: ${total - equal} of ${total} levels differ`);
    assert.equal(ort.calibrationTokens, ref.calibrationTokens);
  });
}

test('AWQ on ort: the same α per group and mean |x| as the reference path (gpt2-a, llama-a)', async () => {
  for (const name of ['gpt2-a', 'llama-a']) {
    const model = loadModel(join(GOLDEN, 'models', name));
    const { ref, ort, refStats, ortStats } = await both(model, { method: 'awq', spec, windows: windowsFor(model, 8) });
    for (const [l, rs] of refStats) {
      rs.forEach((r, k) => {
        const o = ortStats.get(l)![k];
        const mean = (s: BlockInputStats) => Float64Array.from(s.absSum, (v) => v / s.rows);
        assert.ok(relDiff(mean(o), mean(r)) < 1e-5, `${name} block ${l}: mean |x| differs`);
      });
    }
    assert.deepEqual(
      ort.calibration.map((c) => [c.name, c.alpha]),
      ref.calibration.map((c) => [c.name, c.alpha]),
    );
  }
});

test('AWQ on ort at α = 0 is RTN bit for bit', async () => {
  const model = loadModel(join(GOLDEN, 'models', 'llama-a'));
  const r = await quantizeModelCalibratedFast(model, {
    method: 'awq',
    spec,
    windows: windowsFor(model, 2),
    awq: { alphas: [0] },
    engine: 'ort',
    threads: 1,
    errors: false,
  });
  for (const t of selectTargets(model, DEFAULT_SCOPE)) {
    const rtn = quantizeRtn(weight(model, t.name), t.layout, spec);
    assert.deepEqual(dequantize(r.quantized.get(t.name)!).data, dequantize(rtn).data, t.name);
  }
});

test('engine reference gives the reference path exactly', async () => {
  const model = loadModel(join(GOLDEN, 'models', 'gpt2-a'));
  const opts: CalibratedOptions = { method: 'gptq', spec, windows: windowsFor(model, 1), errors: false };
  const a = await quantizeModelCalibrated(model, opts);
  const b = await quantizeModelCalibratedFast(model, { ...opts, engine: 'reference' });
  for (const [n, q] of a.quantized) assert.deepEqual(b.quantized.get(n)!.levels, q.levels, n);
});

test("the calibration pass's output error and matrix product (float64) equal the plain loops to rounding", async () => {
  const model = loadModel(join(GOLDEN, 'models', 'gpt2-a'));
  const pass = await ortCalibrationPass(model, 1);
  const rng = new Rng(3);
  try {
    for (const [out, n] of [
      [5, 7],
      [48, 16],
      [24, 96],
    ]) {
      // G = Xᵀ X of random rows (symmetric, positive semi-definite), D with some exact zeros
      const rows = 2 * n;
      const x = Float64Array.from({ length: rows * n }, () => rng.normal());
      const gram = new Float64Array(n * n);
      for (let r = 0; r < rows; r++) {
        for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) gram[a * n + b] += x[r * n + a] * x[r * n + b];
      }
      const d = Float64Array.from({ length: out * n }, (_, k) => (k % 5 === 0 ? 0 : rng.normal() * 1e-3));
      const want = gramQuadratic(d, out, n, gram);
      const got = await pass.quadratic(d, out, n, gram);
      assert.ok(want > 0);
      assert.ok(Math.abs(got - want) <= 1e-12 * want, `[${out}, ${n}]: ${got} vs ${want}`);
    }
    await assert.rejects(pass.quadratic(new Float64Array(6), 2, 4, new Float64Array(16)), /D has 6 values/);
    const [m, k, n] = [37, 150, 21];
    const a = Float64Array.from({ length: m * k }, () => rng.normal());
    const b = Float64Array.from({ length: k * n }, () => rng.normal());
    const want = await matMulJs(a, m, k, b, n);
    const got = await pass.matmul(a, m, k, b, n);
    assert.equal(got.length, m * n);
    for (let i = 0; i < m * n; i++)
      assert.ok(Math.abs(got[i] - want[i]) <= 1e-12 * k, `C[${i}] ${got[i]} vs ${want[i]}`);
    await assert.rejects(pass.matmul(a, m, k + 1, b, n), /A has 5550 values/);
  } finally {
    await pass.dispose();
  }
});
