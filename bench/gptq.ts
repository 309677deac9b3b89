// GPTQ's cost on a GPT-2-small-shaped block (hidden 768, MLP 3072): per linear, the Gram matrix of
// N calibration rows (Σ x xᵀ, float64), U (the upper Cholesky factor of H⁻¹) and the lazy-block column
// loop, timed on random weights and correlated random rows; the model's figure is 12 blocks. The
// forward passes that produce the rows (two per block per window) are not included: they cost what
// a calibration pass costs. Prints wall and CPU seconds (on a shared machine the CPU time is the
// figure to quote), never asserts. With --products: the solver by matrix products on onnxruntime
// (quantizeGptqWith, what quantizeModelCalibratedFast runs) instead of the TypeScript loops, and
// --compare runs both and counts the levels that differ.
// Usage: npx tsx bench/gptq.ts [N rows, default 2048] [blocks to time, default 1]
//          [--products [--compare]] [--threads k]
import { ortFloat64Kernels } from '../src/engine/ort/blocks.ts';
import { accumulateGram, quantizeGptq, quantizeGptqWith, symmetrize } from '../src/quant/gptq.ts';
import { Rng } from '../src/util/rng.ts';
import { GPT2_SMALL_LINEARS } from './checkpoint.ts';

const args = process.argv.slice(2);
const nums = args.filter((a) => /^\d+$/.test(a));
const N = Number(nums[0] ?? 2048);
const BLOCKS = Number(nums[1] ?? 1);
const products = args.includes('--products');
const compare = args.includes('--compare');
const ti = args.indexOf('--threads');
const kernels = products ? await ortFloat64Kernels(ti >= 0 ? Number(args[ti + 1]) : 1) : undefined;
const LAYERS = 12;
const SHAPES = GPT2_SMALL_LINEARS;

const rng = new Rng(2022);
let gramMs = 0;
let solveMs = 0;
const cpu0 = process.cpuUsage();
const wall0 = performance.now();
for (let b = 0; b < BLOCKS; b++) {
  for (const s of SHAPES) {
    const n = s.inDim;
    const x = new Float32Array(N * n);
    for (let k = 0; k < x.length; k++) x[k] = rng.normal();
    const w = new Float32Array(n * s.outDim);
    for (let k = 0; k < w.length; k++) w[k] = 0.02 * rng.normal();
    let t0 = performance.now();
    const gram = new Float64Array(n * n);
    // rows arrive window by window in the pipeline; 512-row windows here
    for (let r = 0; r < N; r += 512)
      accumulateGram(gram, x.subarray(r * n, Math.min(N, r + 512) * n), Math.min(512, N - r), n);
    symmetrize(gram, n);
    const tGram = performance.now() - t0;
    t0 = performance.now();
    const spec = { bits: 4, groupSize: 128, scheme: 'asym' } as const;
    const wt = { data: w, shape: [n, s.outDim] };
    const r = kernels
      ? await quantizeGptqWith(kernels.matmul, wt, 'in_out', gram, N, spec)
      : quantizeGptq(wt, 'in_out', gram, N, spec);
    const tSolve = performance.now() - t0;
    if (kernels && compare) {
      const plain = quantizeGptq(wt, 'in_out', gram, N, spec).q.levels;
      let differ = 0;
      for (let k = 0; k < plain.length; k++) if (plain[k] !== r.q.levels[k]) differ++;
      console.log(`${s.name.padEnd(12)} levels differing from the TypeScript solver: ${differ} of ${plain.length}`);
    }
    gramMs += tGram;
    solveMs += tSolve;
    console.log(
      `${s.name.padEnd(12)} [${n} → ${s.outDim}]  Gram of ${N} rows ${(tGram / 1000).toFixed(2)} s   U + column loop ${(tSolve / 1000).toFixed(2)} s`,
    );
  }
}
await kernels?.dispose();
const cpu = process.cpuUsage(cpu0);
const cpuPerBlock = (cpu.user + cpu.system) / 1e6 / BLOCKS;
const wallPerBlock = (performance.now() - wall0) / 1000 / BLOCKS;
console.log(
  `CPU time per block ${cpuPerBlock.toFixed(1)} s (wall ${wallPerBlock.toFixed(1)} s; wall ≫ CPU means a shared machine)`,
);
console.log(`GPT-2-small (${LAYERS} blocks) CPU time ≈ ${(cpuPerBlock * LAYERS).toFixed(0)} s`);
const perBlock = (gramMs + solveMs) / BLOCKS / 1000;
console.log(
  `one block: ${perBlock.toFixed(1)} s (Gram ${(gramMs / BLOCKS / 1000).toFixed(1)} s, solve ${(solveMs / BLOCKS / 1000).toFixed(1)} s)`,
);
console.log(
  `GPT-2-small (${LAYERS} blocks), 4-bit g128, ${N} calibration tokens, ${products ? 'matrix products on onnxruntime' : 'TypeScript solver'}: ≈ ${(perBlock * LAYERS).toFixed(0)} s wall (Node ${process.version}), forward passes excluded`,
);
