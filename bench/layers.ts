// C-001's layer scan on a GPT-2-small-shaped checkpoint (bench/checkpoint.ts, random weights):
// "only block l quantised" for every block, scored over the same windows three ways —
//  - copies: a quantised copy of the model and a fresh onnxruntime engine per block (before);
//  - range:  the sweep, one graph per first block (blocks l..L−1 + the head from the state in);
//  - split:  the sweep, one graph per block, chained.
// Prints CPU seconds (user + system of this process) and wall seconds for each, and the largest
// NLL difference of the sweeps against the copies. The full-precision reference pass, which all
// three share, is not included. Usage:
//   node --import tsx bench/layers.ts [--windows 4] [--tokens 256] [--threads 1] [--bits 4] [--model DIR]

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { ortEngine } from '../src/engine/ort/engine.ts';
import type { ScoreResult } from '../src/engine/types.ts';
import { loadModel } from '../src/model/load.ts';
import { quantizeModel } from '../src/quant/apply.ts';
import { layerPlans, layerSweep } from '../src/quant/layers.ts';
import { DEFAULT_SCOPE } from '../src/quant/scope.ts';
import { Rng } from '../src/util/rng.ts';
import { ensureCheckpoint, GPT2_SMALL } from './checkpoint.ts';

const args = process.argv.slice(2);
const opt = (name: string, d: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const windows = opt('windows', 4);
const tokens = opt('tokens', 256);
const threads = opt('threads', 1);
const bits = opt('bits', 4);

mkdirSync('bench/.cache', { recursive: true });
const dirArg = args.indexOf('--model');
const fp = loadModel(dirArg >= 0 ? args[dirArg + 1] : ensureCheckpoint(join('bench/.cache', 'gpt2-small-random')));
const rng = new Rng(5);
const ids = Array.from({ length: windows }, () =>
  Int32Array.from({ length: tokens }, () => rng.int(Math.min(GPT2_SMALL.vocab, fp.config.vocabSize))),
);
const spec = { bits, scheme: 'sym' as const, groupSize: 128 };
const L = fp.config.numLayers;

async function timed<T>(name: string, f: () => Promise<T>): Promise<{ value: T; cpu: number; wall: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await f();
  const c = process.cpuUsage(c0);
  const r = { value, cpu: (c.user + c.system) / 1e6, wall: (performance.now() - t0) / 1000 };
  console.log(`${name.padEnd(8)} cpu ${r.cpu.toFixed(1)} s  wall ${r.wall.toFixed(1)} s`);
  return r;
}

console.log(
  `${fp.config.arch} ${fp.config.hiddenSize} wide, ${L} blocks, ${windows} windows × ${tokens} tokens, ${threads} thread(s), ${bits}-bit RTN; load ${loadavg()[0].toFixed(1)}`,
);
const copies = await timed('copies', async () => {
  const out: ScoreResult[][] = [];
  for (let l = 0; l < L; l++) {
    const q = quantizeModel(fp, { spec, scope: { ...DEFAULT_SCOPE, layers: [l] } }).model;
    const e = await ortEngine(q, { threads });
    out.push([]);
    for (const w of ids) out[l].push(await e.score({ ids: w }));
    await e.dispose();
  }
  return out;
});
for (const layout of ['range', 'split'] as const) {
  const r = await timed(layout, async () => {
    const q = quantizeModel(fp, { spec, scope: DEFAULT_SCOPE }).model;
    const s = await layerSweep(fp, q, layerPlans(L, 'one'), { engine: 'ort', layout, threads });
    const out: ScoreResult[][] = [];
    for (let l = 0; l < L; l++) {
      out.push([]);
      for (const w of ids) out[l].push(await s.engines[l].score({ ids: w }));
    }
    await s.dispose();
    return out;
  });
  let d = 0;
  for (let l = 0; l < L; l++)
    for (let k = 0; k < windows; k++) {
      const a = r.value[l][k].nll;
      const b = copies.value[l][k].nll;
      for (let t = 0; t < a.length; t++) d = Math.max(d, Math.abs(a[t] - b[t]));
    }
  console.log(
    `${layout.padEnd(8)} max |ΔNLL| vs copies ${d.toExponential(2)}; cpu ×${(copies.cpu / r.cpu).toFixed(2)} less`,
  );
}
console.log(`load at the end ${loadavg()[0].toFixed(1)}`);
