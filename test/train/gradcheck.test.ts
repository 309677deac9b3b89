// Every backward pass of the trainer against float64 central finite differences on a tiny model,
// for the three architectures; the register-tiled matmul against its naive twin; and its WebAssembly
// SIMD path bit for bit against the JavaScript tile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrainNet, TRAIN_ARCHS, type TrainArch } from '../../src/train/net.ts';
import { gemmNT, gemmNTNaive } from '../../src/train/kernels.ts';
import { setSimd } from '../../src/kernels/simd.ts';
import { Rng } from '../../src/util/rng.ts';

function tinyNet(arch: TrainArch): TrainNet {
  // HS = 4 and rotary share 0.5 → 2 rotary dims: partial rotary is exercised.
  const net = new TrainNet(
    { arch, vocabSize: 13, layers: 2, hidden: 8, heads: 2, context: 6, rotaryPct: 0.5 },
    { maxBatch: 2, float64: true },
  );
  net.init(7);
  // Perturb norms and biases away from 1/0 so their gradients are not trivially symmetric.
  const rng = new Rng(11);
  for (const s of net.slots) {
    const v = net.params.subarray(s.offset, s.offset + s.size);
    for (let i = 0; i < v.length; i++)
      v[i] += (s.spec.kind === 'norm' || s.spec.kind === 'bias' ? 0.3 : 0.2) * rng.normal();
  }
  return net;
}

for (const arch of TRAIN_ARCHS) {
  test(`${arch}: backward matches float64 finite differences on every parameter`, () => {
    const net = tinyNet(arch);
    const B = 2,
      T = 6;
    const rng = new Rng(3);
    const ids = Int32Array.from({ length: B * T }, () => rng.int(13));
    const targets = Int32Array.from({ length: B * T }, (_, i) => (i % 5 === 4 ? -1 : rng.int(13)));
    const loss = () => {
      const total = net.forward(ids, targets, B, T);
      return total / net.scoredCount;
    };
    loss();
    net.zeroGrad();
    net.backward(1 / net.scoredCount);
    const analytic = Float64Array.from(net.grads);
    const eps = 1e-5;
    let worst = 0;
    let where = '';
    for (const s of net.slots) {
      for (let j = 0; j < s.size; j++) {
        const i = s.offset + j;
        const keep = net.params[i];
        net.params[i] = keep + eps;
        const up = loss();
        net.params[i] = keep - eps;
        const down = loss();
        net.params[i] = keep;
        const numeric = (up - down) / (2 * eps);
        const err = Math.abs(numeric - analytic[i]) / Math.max(1e-3, Math.abs(numeric) + Math.abs(analytic[i]));
        if (err > worst) {
          worst = err;
          where = `${s.spec.name}[${j}] numeric ${numeric} analytic ${analytic[i]}`;
        }
      }
    }
    assert.ok(worst < 1e-6, `worst relative gradient error ${worst.toExponential(2)} at ${where}`);
  });
}

test('gemmNT equals its naive twin, ragged sizes, with bias and accumulation', () => {
  const rng = new Rng(5);
  for (const [M, N, K] of [
    [1, 1, 1],
    [5, 7, 3],
    [8, 12, 16],
    [9, 6, 33],
  ]) {
    const A = Float32Array.from({ length: M * K }, () => rng.normal());
    const B = Float32Array.from({ length: N * K }, () => rng.normal());
    const bias = Float32Array.from({ length: N }, () => rng.normal());
    const c1 = Float32Array.from({ length: M * N }, () => rng.normal());
    const c2 = Float32Array.from(c1);
    gemmNT(c1, A, B, bias, M, N, K, true);
    gemmNTNaive(c2, A, B, bias, M, N, K, true);
    for (let i = 0; i < M * N; i++)
      assert.ok(Math.abs(c1[i] - c2[i]) < 1e-4, `M=${M} N=${N} K=${K} at ${i}: ${c1[i]} vs ${c2[i]}`);
  }
});

test("gemmNT: the WebAssembly SIMD path gives the JavaScript tile's results bit for bit", () => {
  assert.equal(setSimd(true), true, 'WebAssembly SIMD is available in Node 20');
  const rng = new Rng(8);
  try {
    // Ragged M and N (tails go through the scalar cells), K odd; with and without bias and accumulation.
    for (const [M, N, K] of [
      [64, 64, 16],
      [70, 2051, 33],
      [513, 130, 128],
    ]) {
      const A = Float32Array.from({ length: M * K }, () => rng.normal());
      const B = Float32Array.from({ length: N * K }, () => rng.normal());
      const bias = Float32Array.from({ length: N }, () => rng.normal());
      const start = Float32Array.from({ length: M * N }, () => rng.normal());
      for (const [b, acc] of [
        [null, false],
        [bias, true],
      ] as const) {
        const viaSimd = Float32Array.from(start);
        const viaJs = Float32Array.from(start);
        setSimd(true);
        gemmNT(viaSimd, A, B, b, M, N, K, acc);
        setSimd(false);
        gemmNT(viaJs, A, B, b, M, N, K, acc);
        assert.deepEqual(
          new Uint32Array(viaSimd.buffer),
          new Uint32Array(viaJs.buffer),
          `M=${M} N=${N} K=${K} bias=${!!b} accumulate=${acc}`,
        );
      }
    }
  } finally {
    setSimd(true);
  }
});
