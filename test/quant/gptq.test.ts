// GPTQ kernels against their naive twins: U (the upper Cholesky factor of H⁻¹) without forming H⁻¹
// against Cholesky → inverse → Cholesky; the lazy-block column loop bit-identical to the plain loop
// for group sizes that divide the block, straddle it, exceed it, are ragged or are one per channel,
// with act-order too; dead inputs; and the output error below RTN's on random calibration rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accumulateGram,
  matMulJs,
  outputError,
  quantizeGptq,
  quantizeGptqWith,
  symmetrize,
  upperCholeskyOfInverse,
  upperCholeskyOfInverseBlocked,
  upperCholeskyOfInverseNaive,
} from '../../src/quant/gptq.ts';
import { dequantize, quantizeRtn, type QuantSpec } from '../../src/quant/rtn.ts';
import type { Layout } from '../../src/model/spec.ts';
import { Rng } from '../../src/util/rng.ts';
import { assertClose } from '../helpers/compare.ts';
import { randomTensor } from './helpers.ts';

/** Correlated rows x [T, n] (a random mixing of N(0,1)), some inputs forced dead when asked. */
function rows(T: number, n: number, seed: number, dead: number[] = []): Float32Array {
  const rng = new Rng(seed);
  const z = new Float32Array(T * n);
  for (let k = 0; k < z.length; k++) z[k] = rng.normal();
  const x = new Float32Array(T * n);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < n; j++)
      x[t * n + j] = z[t * n + j] + 0.5 * z[t * n + ((j + 1) % n)] + (j % 7 === 0 ? 3 * z[t * n] : 0);
  }
  for (const j of dead) for (let t = 0; t < T; t++) x[t * n + j] = 0;
  return x;
}

function gramOf(x: Float32Array, T: number, n: number): Float64Array {
  const g = new Float64Array(n * n);
  accumulateGram(g, x, T, n);
  symmetrize(g, n);
  return g;
}

test('accumulateGram equals Σ x xᵀ computed directly', () => {
  const T = 9;
  const n = 6;
  const x = rows(T, n, 1);
  const g = gramOf(x, T, n);
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += x[t * n + a] * x[t * n + b];
      assert.ok(Math.abs(g[a * n + b] - s) <= 1e-12 * Math.max(1, Math.abs(s)));
    }
  }
});

test('upperCholeskyOfInverseBlocked equals the unblocked U to rounding; a bad pivot is named in the whole matrix', async () => {
  for (const [n, block] of [
    [5, 8],
    [64, 16],
    [150, 32],
    [97, 40],
  ]) {
    const T = 3 * n + 4;
    const H = gramOf(rows(T, n, 3 + n), T, n);
    for (let j = 0; j < n; j++) H[j * n + j] += 0.01;
    const want = upperCholeskyOfInverse(H, n);
    const got = await upperCholeskyOfInverseBlocked(H, n, matMulJs, 'w', block);
    let scale = 0;
    for (const v of want) scale = Math.max(scale, Math.abs(v));
    for (let k = 0; k < n * n; k++) {
      assert.ok(
        Math.abs(got[k] - want[k]) <= 1e-10 * scale,
        `n ${n} block ${block}: entry ${k} ${got[k]} vs ${want[k]}`,
      );
    }
  }
  // a zero pivot in the first block column processed (the last columns): its index in the whole matrix
  const n = 40;
  const H = gramOf(rows(200, n, 9), 200, n);
  for (let j = 0; j < n; j++) H[(n - 3) * n + j] = H[j * n + n - 3] = 0;
  await assert.rejects(upperCholeskyOfInverseBlocked(H, n, matMulJs, 'w', 16), /pivot 37/);
  assert.throws(() => upperCholeskyOfInverse(H, n, 'w'), /pivot 37/);
});

test('upperCholeskyOfInverse equals the naive Cholesky → inverse → Cholesky, and UᵀU H = I', () => {
  for (const n of [1, 2, 5, 33]) {
    const T = 3 * n + 4;
    const H = gramOf(rows(T, n, 7 + n), T, n);
    for (let j = 0; j < n; j++) H[j * n + j] += 0.01;
    const U = upperCholeskyOfInverse(H, n);
    const V = upperCholeskyOfInverseNaive(H, n);
    let scale = 0;
    for (const v of V) scale = Math.max(scale, Math.abs(v));
    assertClose(U, V, { abs: 1e-10 * scale, label: `U n=${n}` });
    for (let a = 0; a < n; a++) for (let b = 0; b < a; b++) assert.equal(U[a * n + b], 0);
    // (UᵀU) H = I
    for (let a = 0; a < n; a++) {
      for (let c = 0; c < n; c++) {
        let s = 0;
        for (let b = 0; b < n; b++) {
          let hinv = 0;
          for (let k = 0; k < n; k++) hinv += U[k * n + a] * U[k * n + b];
          s += hinv * H[b * n + c];
        }
        assert.ok(Math.abs(s - (a === c ? 1 : 0)) < 1e-8, `n=${n} (${a},${c}) ${s}`);
      }
    }
  }
});

test('upperCholeskyOfInverse refuses a matrix that is not positive definite, in one line', () => {
  assert.throws(() => upperCholeskyOfInverse(Float64Array.from([1, 2, 2, 1]), 2), /not positive definite/);
});

const CASES: { n: number; out: number; g: number | 'channel'; label: string }[] = [
  { n: 256, out: 5, g: 32, label: 'g divides the block' },
  { n: 300, out: 4, g: 48, label: 'a group straddles a block end' },
  { n: 520, out: 3, g: 200, label: 'groups wider than a block, ragged last group' },
  { n: 176, out: 6, g: 32, label: 'ragged last group (176 = 5·32 + 16)' },
  { n: 150, out: 3, g: 'channel', label: 'one group per channel' },
  { n: 140, out: 4, g: 256, label: 'group size ≥ inDim' },
];

for (const c of CASES) {
  for (const layout of ['in_out', 'out_in'] as Layout[]) {
    for (const actOrder of [false, true]) {
      test(`GPTQ lazy blocks = plain loop, bit for bit: ${c.label}, ${layout}${actOrder ? ', act-order' : ''}`, async () => {
        const T = 2 * c.n;
        const x = rows(T, c.n, c.n, [3, c.n - 1]);
        const gram = gramOf(x, T, c.n);
        const shape = layout === 'in_out' ? [c.n, c.out] : [c.out, c.n];
        const w = randomTensor(shape[0], shape[1], 11 + c.n);
        for (const scheme of ['asym', 'sym'] as const) {
          const spec: QuantSpec = { bits: 3, groupSize: c.g, scheme };
          const fast = quantizeGptq(w, layout, gram, T, spec, { actOrder });
          const slow = quantizeGptq(w, layout, gram, T, spec, { actOrder, naive: true });
          const small = quantizeGptq(w, layout, gram, T, spec, { actOrder, blockSize: 7 });
          // by matrix products (blocked U, each lazy block's update summed): equal to rounding, same levels
          const products = await quantizeGptqWith(matMulJs, w, layout, gram, T, spec, { actOrder, blockSize: 16 });
          assert.deepEqual([...products.q.levels], [...fast.q.levels], `${scheme} levels by products`);
          assert.deepEqual([...products.q.scales], [...fast.q.scales], `${scheme} scales by products`);
          assert.equal(fast.info.deadInputs, 2);
          // the two U computations differ by rounding only; the levels and grids must not
          assert.deepEqual([...fast.q.levels], [...slow.q.levels], `${scheme} levels`);
          assert.deepEqual([...fast.q.levels], [...small.q.levels], `${scheme} levels, block 7`);
          assert.deepEqual([...fast.q.scales], [...slow.q.scales], `${scheme} scales`);
          assert.deepEqual([...fast.q.scales], [...small.q.scales], `${scheme} scales, block 7`);
          // GPTQ beats RTN on the rows it was calibrated on
          const dqG = dequantize(fast.q).data;
          const dqR = dequantize(quantizeRtn(w, layout, spec)).data;
          const eG = outputError(w.data, dqG, layout, c.n, c.out, gram);
          const eR = outputError(w.data, dqR, layout, c.n, c.out, gram);
          assert.ok(eG < eR, `${scheme}: GPTQ ${eG} ≥ RTN ${eR}`);
        }
      });
    }
  }
}

test('GPTQ: act-order static groups keep the grid of the weights before the loop', () => {
  const n = 64;
  const out = 3;
  const T = 200;
  const gram = gramOf(rows(T, n, 5), T, n);
  const w = randomTensor(out, n, 9);
  const spec: QuantSpec = { bits: 4, groupSize: 16, scheme: 'asym' };
  const a = quantizeGptq(w, 'out_in', gram, T, spec, { actOrder: true });
  const rtn = quantizeRtn(w, 'out_in', spec);
  assert.deepEqual([...a.q.scales], [...rtn.scales]);
  assert.deepEqual([...a.q.zeros!], [...rtn.zeros!]);
});

test('GPTQ: a dead input gets weight 0, an all-zero weight stays zero with no NaN', () => {
  const n = 40;
  const T = 50;
  const gram = gramOf(rows(T, n, 3, [0, 5]), T, n);
  const w = randomTensor(4, n, 2);
  const r = quantizeGptq(w, 'out_in', gram, T, { bits: 4, groupSize: 8, scheme: 'sym' });
  const dq = dequantize(r.q).data;
  for (let o = 0; o < 4; o++) assert.equal(Math.abs(dq[o * n + 0]) + Math.abs(dq[o * n + 5]), 0);
  const z = quantizeGptq({ data: new Float32Array(4 * n), shape: [4, n] }, 'out_in', gram, T, {
    bits: 4,
    groupSize: 8,
    scheme: 'asym',
  });
  for (const v of dequantize(z.q).data) assert.equal(v, 0);
});
