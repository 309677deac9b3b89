// Golden: GPTQ 4-bit g32 (sym and asym) of gpt2-a on the given calibration windows (forward passes on
// the reference engine and on onnxruntime) against
// test/fixtures/golden/gptq (numpy float64, README there): levels identical for ≥ 99.9 % of weights,
// dequantised weights within 1e-6 where levels are equal, mean NLL per sequence within 1e-4; GPTQ's
// output error on the calibration rows below RTN's in every linear; and the per-block test (block l
// calibrated on the reference weights of blocks < l) that localises a flipped level.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import { withWeights, type Model } from '../../src/model/model.ts';
import { scoreReference } from '../../src/engine/reference.ts';
import { quantizeModelCalibrated, quantizeModelCalibratedFast } from '../../src/quant/calibrated.ts';
import type { EngineName } from '../../src/engine/types.ts';
import { dequantize, type Scheme } from '../../src/quant/rtn.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';
import { GOLDEN } from '../helpers/cli.ts';
import { readRawSafetensors } from './helpers.ts';

const DIR = join(GOLDEN, 'gptq');
const ref = JSON.parse(readFileSync(join(DIR, 'gptq_gpt2-a.reference.json'), 'utf8'));
const calib = (JSON.parse(readFileSync(join(DIR, 'calib_ids.json'), 'utf8'))['gpt2-a'].input_ids as number[][]).map(
  (w) => Int32Array.from(w),
);
const seqs = (
  JSON.parse(readFileSync(join(GOLDEN, 'models/gpt2-a/reference.json'), 'utf8')) as {
    sequences: { input_ids: number[] }[];
  }
).sequences.slice(0, 3);

/** Named tolerances of the golden README. */
const TOL = { equalLevels: 0.999, dequant: 1e-6, meanNll: 1e-4 };

function meanNll(model: Model, ids: number[]): number {
  const nll = scoreReference(model, { ids: Int32Array.from(ids) }).nll;
  let s = 0;
  for (const v of nll) s += v;
  return s / nll.length;
}

function compareLevels(
  scheme: Scheme,
  got: Map<string, { levels: ArrayLike<number>; dequant: Float32Array }>,
  names?: string[],
) {
  const lv = readRawSafetensors(join(DIR, `gpt2-a.w4g32.${scheme}.levels.safetensors`)).tensors;
  const dq = readRawSafetensors(join(DIR, `gpt2-a.w4g32.${scheme}.dequant.safetensors`)).tensors;
  let total = 0;
  let equal = 0;
  let maxDq = 0;
  for (const [name, g] of got) {
    if (names && !names.includes(name)) continue;
    const want = lv.get(`${name}.q`)!.data;
    const wantDq = dq.get(name)!.data as Float32Array;
    assert.equal(g.levels.length, want.length, name);
    for (let k = 0; k < want.length; k++) {
      total++;
      if (g.levels[k] === want[k]) {
        equal++;
        maxDq = Math.max(maxDq, Math.abs(g.dequant[k] - wantDq[k]));
      }
    }
  }
  return { total, equal, share: equal / total, maxDq };
}

const ARMS: [Scheme, EngineName][] = [
  ['asym', 'reference'],
  ['sym', 'reference'],
  ['asym', 'ort'],
  ['sym', 'ort'],
];
for (const [scheme, engine] of ARMS) {
  const what = `${scheme} (${engine} forward)`;
  test(`golden GPTQ gpt2-a w4g32 ${what}: levels, dequantised weights, NLL, output error below RTN`, async () => {
    const model = loadModel(join(GOLDEN, 'models/gpt2-a'));
    const v = ref.variants[`w4g32/${scheme}`];
    const opts = { method: 'gptq', spec: { bits: 4, groupSize: 32, scheme }, windows: calib } as const;
    const r =
      engine === 'ort'
        ? await quantizeModelCalibratedFast(model, { ...opts, engine, threads: 1 })
        : await quantizeModelCalibrated(model, opts);
    const got = new Map([...r.quantized].map(([n, q]) => [n, { levels: q.levels, dequant: dequantize(q).data }]));
    const c = compareLevels(scheme, got);
    console.log(
      `# ${what}: levels equal ${c.equal}/${c.total} (${(100 * c.share).toFixed(4)} %), max |Δw| where equal ${c.maxDq.toExponential(2)}`,
    );
    assert.ok(c.share >= TOL.equalLevels, `${scheme}: only ${(100 * c.share).toFixed(3)} % of levels equal`);
    assert.ok(c.maxDq <= TOL.dequant, `${scheme}: dequantised weights differ by ${c.maxDq} where levels are equal`);
    const diffs = seqs.map((s, i) => meanNll(r.model, s.input_ids) - v.gptq.mean_nll_f64[i]);
    console.log(`# ${what}: mean NLL − reference per sequence ${diffs.map((d) => d.toExponential(2)).join(', ')}`);
    for (const d of diffs) assert.ok(Math.abs(d) <= TOL.meanNll, `${scheme}: mean NLL off by ${d}`);
    // GPTQ's calibration output error is below RTN's in every linear, and close to the reference's
    assert.equal(r.calibration.length, Object.keys(ref.linears).length);
    for (const l of r.calibration) {
      assert.ok(l.outErr < l.outErrRtn, `${l.name}: GPTQ ${l.outErr} ≥ RTN ${l.outErrRtn}`);
      const want = v.layers[l.name];
      // the reference's rows come from a float64 forward and its error sums over all rows: a 2/N-free Σ
      assert.ok(
        Math.abs(l.outErrRtn - want.out_err_rtn) <= 1e-3 * want.out_err_rtn,
        `${l.name}: RTN error ${l.outErrRtn} vs ${want.out_err_rtn}`,
      );
      assert.ok(
        Math.abs(l.outErr - want.out_err_gptq) <= 1e-3 * want.out_err_gptq,
        `${l.name}: GPTQ error ${l.outErr} vs ${want.out_err_gptq}`,
      );
    }
  });
}

test('golden GPTQ per block: block l calibrated on the reference weights of blocks < l', async () => {
  const model = loadModel(join(GOLDEN, 'models/gpt2-a'));
  const L = model.config.numLayers;
  for (const scheme of ['asym', 'sym'] as Scheme[]) {
    const refDq = readRawSafetensors(join(DIR, `gpt2-a.w4g32.${scheme}.dequant.safetensors`)).tensors;
    for (let l = 0; l < L; l++) {
      const prior = new Map<string, Tensor>();
      for (const [name, t] of refDq) {
        const m = /^transformer\.h\.(\d+)\./.exec(name);
        if (m && Number(m[1]) < l) prior.set(name, { data: t.data as Float32Array, shape: t.shape });
      }
      const base = withWeights(model, prior);
      const r = await quantizeModelCalibrated(base, {
        method: 'gptq',
        spec: { bits: 4, groupSize: 32, scheme },
        windows: calib,
        scope: { blocks: true, layers: [l], output: 'none', embeddings: false },
        errors: false,
      });
      const got = new Map([...r.quantized].map(([n, q]) => [n, { levels: q.levels, dequant: dequantize(q).data }]));
      const c = compareLevels(scheme, got);
      assert.ok(c.total - c.equal <= 6, `${scheme} block ${l}: ${c.total - c.equal} levels differ`);
      assert.ok(c.maxDq <= TOL.dequant, `${scheme} block ${l}: max |Δw| ${c.maxDq}`);
    }
  }
});
