// Calibration statistics (diag(XᵀX) of every block linear's input) on a GPT-2-small-shaped
// checkpoint (bench/checkpoint.ts): the reference forward (before) against the onnxruntime graph
// (collectActivationStatsFast). Prints CPU seconds (user + system of this process), wall seconds
// and the largest relative difference. Usage:
//   node --import tsx bench/calibration.ts [--tokens 1024] [--context 512] [--threads 1] [--sequential]
// With --sequential: GPTQ's/AWQ's sequential statistics instead (src/quant/calibrated.ts: per block, one
// full-precision pass for Σ x xᵀ of its linears' inputs in float64, then a pass through the block), the
// steps of quantizeModelCalibrated (reference forward, accumulateGram in TypeScript) against those of
// quantizeModelCalibratedFast (onnxruntime's ortCalibrationPass: the graph returns each window's float64
// Σ x xᵀ), without the quantiser: the blocks keep their weights (a quantised block costs the same to
// run). GPTQ's solver adds the same minutes to both (bench/gptq.ts times it).

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { loadModel } from '../src/model/load.ts';
import { collectActivationStats, collectActivationStatsFast } from '../src/quant/calibrate.ts';
import { accumulateGram } from '../src/quant/gptq.ts';
import { ortCalibrationPass } from '../src/engine/ort/blocks.ts';
import { block, embed } from '../src/model/forward.ts';
import { blockLinears } from '../src/model/spec.ts';
import { Rng } from '../src/util/rng.ts';
import { ensureCheckpoint, GPT2_SMALL } from './checkpoint.ts';

const args = process.argv.slice(2);
const opt = (name: string, d: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const tokens = opt('tokens', 1024);
const context = opt('context', 512);
const threads = opt('threads', 1);

mkdirSync('bench/.cache', { recursive: true });
const model = loadModel(ensureCheckpoint(join('bench/.cache', 'gpt2-small-random')));
const rng = new Rng(3);
const seqs = [Array.from({ length: tokens }, () => rng.int(GPT2_SMALL.vocab))];
console.log(
  `GPT-2-small shape, ${tokens} tokens in windows of ${context}, ${threads} thread(s); load ${loadavg()[0].toFixed(1)}`,
);

async function timed<S>(name: string, f: () => Promise<S>): Promise<S> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const s = await f();
  const c = process.cpuUsage(c0);
  console.log(
    `${name.padEnd(10)} cpu ${((c.user + c.system) / 1e6).toFixed(1)} s  wall ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return s;
}
if (args.includes('--sequential')) {
  const windows: Int32Array[] = [];
  for (let i = 0; i < tokens; i += context) windows.push(Int32Array.from(seqs[0].slice(i, i + context)));
  const names = (l: number) =>
    blockLinears(model.config)
      .filter((s) => s.layer === l)
      .map((s) => s.name);
  const grams = () => new Map<string, Float64Array>();
  let gramMs = 0;
  const add = (g: Map<string, Float64Array>, name: string, x: Float32Array, T: number, n: number) => {
    const t0 = performance.now();
    let acc = g.get(name);
    if (!acc) g.set(name, (acc = new Float64Array(n * n)));
    accumulateGram(acc, x, T, n);
    gramMs += performance.now() - t0;
  };
  const gramTime = () => {
    console.log(`  of which Gram accumulation (TypeScript) ${(gramMs / 1000).toFixed(1)} s wall`);
    gramMs = 0;
  };
  const L = model.config.numLayers;
  const o = await timed('ort', async () => {
    const g = grams();
    const pass = await ortCalibrationPass(model, threads);
    let states: Float32Array[] = [];
    for (const ids of windows) states.push(await pass.entry(ids));
    for (let l = 0; l < L; l++) {
      for (let wi = 0; wi < windows.length; wi++) {
        const T = windows[wi].length;
        for (const r of await pass.sums(model, l, names(l), states[wi], T)) {
          let acc = g.get(r.names[0]);
          if (!acc) g.set(r.names[0], (acc = new Float64Array(r.gram.length)));
          for (let k = 0; k < acc.length; k++) acc[k] += r.gram[k];
        }
      }
      if (l < L - 1) {
        const next: Float32Array[] = [];
        for (let wi = 0; wi < windows.length; wi++) {
          next.push(await pass.carry(model, l, states[wi], windows[wi].length));
        }
        states = next;
      }
      await pass.releaseBlock(l);
    }
    await pass.dispose();
    return g;
  });
  const r = await timed('reference', async () => {
    const g = grams();
    let states = windows.map((ids) => embed(model, ids));
    for (let l = 0; l < L; l++) {
      const onLinearInput = (name: string, x: Float32Array, T: number, n: number) => add(g, name, x, T, n);
      windows.forEach((ids, wi) => block(model, l, states[wi], ids.length, { onLinearInput }));
      if (l < L - 1) states = states.map((x, wi) => block(model, l, x, windows[wi].length));
    }
    return g;
  });
  gramTime();
  let worst = 0;
  for (const [name, s] of r) {
    let d = 0;
    let m = 0;
    const x = o.get(name)!;
    const n = Math.sqrt(s.length);
    for (let j = 0; j < s.length; j++) {
      if (j % n < Math.floor(j / n)) continue; // the reference's lower triangle is not filled
      d = Math.max(d, Math.abs(x[j] - s[j]));
      m = Math.max(m, Math.abs(s[j]));
    }
    worst = Math.max(worst, d / m);
  }
  const load = loadavg()[0].toFixed(1);
  console.log(`Σ x xᵀ: largest difference relative to its largest entry ${worst.toExponential(2)}; load ${load}`);
  process.exit(0);
}
const fast = await timed('ort', () => collectActivationStatsFast(model, seqs, { context, engine: 'ort', threads }));
const ref = await timed('reference', async () => collectActivationStats(model, seqs, { context }));
let worst = 0;
for (const [n, r] of ref.sumSq) {
  const o = fast.sumSq.get(n)!;
  for (let j = 0; j < r.length; j++) worst = Math.max(worst, Math.abs(o[j] - r[j]) / (Math.abs(r[j]) + 1e-12));
}
console.log(`largest relative difference ${worst.toExponential(2)}; load at the end ${loadavg()[0].toFixed(1)}`);
