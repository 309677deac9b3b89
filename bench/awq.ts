// AWQ's α search (src/quant/awq.ts) on a GPT-2-small-shaped block (hidden 768, MLP 3072): per linear,
// the 20-point grid of scales, each candidate's output error Σ_r d_rᵀ G d_r from the Gram matrix of N
// correlated random rows — with the plain TypeScript loop (gramQuadratic) and with onnxruntime's float64
// matrix products (ortFloat64Kernels, what quantizeModelCalibratedFast uses). Prints CPU and wall seconds per
// linear and the chosen α of both (they agree unless two candidates tie to rounding); never asserts.
// Usage: npx tsx bench/awq.ts [N rows, default 512] [--ort-only] [--threads k (default 1)]
import { loadavg } from 'node:os';
import { ortFloat64Kernels } from '../src/engine/ort/blocks.ts';
import { awqSearch } from '../src/quant/awq.ts';
import { accumulateGram, symmetrize } from '../src/quant/gptq.ts';
import { Rng } from '../src/util/rng.ts';
import { GPT2_SMALL_LINEARS } from './checkpoint.ts';

const args = process.argv.slice(2);
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 512);
const ortOnly = args.includes('--ort-only');
const ti = args.indexOf('--threads');
const threads = ti >= 0 ? Number(args[ti + 1]) : 1;
const LAYERS = 12;
const SHAPES = GPT2_SMALL_LINEARS;
const spec = { bits: 4, groupSize: 128, scheme: 'asym' } as const;

const rng = new Rng(2023);
const kernel = await ortFloat64Kernels(threads);
const cpuS = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};
console.log(
  `GPT-2-small block shapes, ${N} calibration rows, 4-bit g128, ${threads} thread(s); load ${loadavg()[0].toFixed(1)}`,
);
const total = { js: 0, ort: 0 };
for (const s of SHAPES) {
  const n = s.inDim;
  // rows with a few large channels, as AWQ's salient inputs
  const x = new Float32Array(N * n);
  for (let r = 0; r < N; r++) for (let j = 0; j < n; j++) x[r * n + j] = rng.normal() * (j % 97 === 0 ? 8 : 1);
  const gram = new Float64Array(n * n);
  accumulateGram(gram, x, N, n);
  symmetrize(gram, n);
  const meanAbs = new Float64Array(n);
  for (let r = 0; r < N; r++) for (let j = 0; j < n; j++) meanAbs[j] += Math.abs(x[r * n + j]) / N;
  const w = Float32Array.from({ length: n * s.outDim }, () => 0.02 * rng.normal());
  const lin = [{ name: s.name, weight: { data: w, shape: [n, s.outDim] }, layout: 'in_out' as const }];
  const timed = async (quad?: typeof kernel.quadratic) => {
    const c0 = cpuS();
    const w0 = performance.now();
    const r = await awqSearch(lin, gram, meanAbs, spec, {}, quad);
    return { alpha: r.alpha, cpu: cpuS() - c0, wall: (performance.now() - w0) / 1000 };
  };
  const o = await timed(kernel.quadratic);
  total.ort += o.cpu;
  let line = `${s.name.padEnd(12)} [${n} → ${s.outDim}]  onnxruntime ${o.cpu.toFixed(2)} s CPU (${o.wall.toFixed(2)} wall), α ${o.alpha}`;
  if (!ortOnly) {
    const j = await timed();
    total.js += j.cpu;
    line += `   TypeScript loop ${j.cpu.toFixed(1)} s CPU, α ${j.alpha}`;
  }
  console.log(line);
}
await kernel.dispose();
console.log(
  `one block: onnxruntime ${total.ort.toFixed(1)} s CPU` +
    (ortOnly ? '' : `, TypeScript loop ${total.js.toFixed(1)} s CPU`) +
    `; GPT-2-small (${LAYERS} blocks) ≈ ${(total.ort * LAYERS).toFixed(0)} s` +
    (ortOnly ? '' : ` vs ${(total.js * LAYERS).toFixed(0)} s`),
);
