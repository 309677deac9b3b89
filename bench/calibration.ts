// Calibration statistics (diag(XᵀX) of every block linear's input) on a GPT-2-small-shaped
// checkpoint (bench/checkpoint.ts): the reference forward (before) against the onnxruntime graph
// (collectActivationStatsFast). Prints CPU seconds (user + system of this process), wall seconds
// and the largest relative difference. Usage:
//   node --import tsx bench/calibration.ts [--tokens 1024] [--context 512] [--threads 1]

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { loadModel } from '../src/model/load.ts';
import { collectActivationStats, collectActivationStatsFast } from '../src/quant/calibrate.ts';
import type { ActivationStats } from '../src/quant/preserve.ts';
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

async function timed(name: string, f: () => Promise<ActivationStats>): Promise<ActivationStats> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const s = await f();
  const c = process.cpuUsage(c0);
  console.log(
    `${name.padEnd(10)} cpu ${((c.user + c.system) / 1e6).toFixed(1)} s  wall ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return s;
}
const fast = await timed('ort', () => collectActivationStatsFast(model, seqs, { context, engine: 'ort', threads }));
const ref = await timed('reference', async () => collectActivationStats(model, seqs, { context }));
let worst = 0;
for (const [n, r] of ref.sumSq) {
  const o = fast.sumSq.get(n)!;
  for (let j = 0; j < r.length; j++) worst = Math.max(worst, Math.abs(o[j] - r[j]) / (Math.abs(r[j]) + 1e-12));
}
console.log(`largest relative difference ${worst.toExponential(2)}; load at the end ${loadavg()[0].toFixed(1)}`);
