// `npm run bench`: langquant's scoring against a plain PyTorch GPT-2 forward, each as a whole
// process (start-up and loading included), on the same GPT-2-small-shaped checkpoint and the same
// 4 × 1024 token ids. Prints wall times, their ratio, tokens/s, peak resident memory against the
// fp32 weight size, and both mean NLLs (which should agree within 1e-3). Prints, never asserts.
// Options: --repeat N (runs each side N times, alternating, and reports the fastest; default 1),
//          --no-torch (skip the PyTorch side), --engine ort|reference|auto (default ort).
// PyTorch comes from Debian (python3-torch, with OpenBLAS as its BLAS: Debian's default reference
// BLAS is some 10× slower and would make the comparison meaningless); the script installs both with
// apt-get when they are missing and it runs as root.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { ensureCheckpoint, ensureIds, weightBytes } from './checkpoint.ts';

const CACHE = 'bench/.cache';
const PY = '/usr/bin/python3';
const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const repeat = Math.max(1, Number(opt('--repeat', '1')) | 0);
const engine = opt('--engine', 'ort');
const withTorch = !args.includes('--no-torch');

interface Measured {
  wallS: number;
  maxRssKiB: number;
  exitCode: number;
  cpuS: number;
  stderr: string;
  meanNll: number;
}

function sh(cmd: string, argv: string[]): { code: number; out: string } {
  const r = spawnSync(cmd, argv, { encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function torchReady(): boolean {
  return existsSync(PY) && sh(PY, ['-c', 'import torch']).code === 0;
}

function blasTarget(): string {
  try {
    return realpathSync('/usr/lib/x86_64-linux-gnu/libblas.so.3');
  } catch {
    return 'unknown';
  }
}

function ensureTorch(): boolean {
  const openblas = () => blasTarget().includes('openblas');
  if (torchReady() && openblas()) return true;
  if (process.getuid?.() !== 0 || sh('apt-get', ['--version']).code !== 0) return torchReady();
  console.log('installing python3-torch and OpenBLAS with apt-get (once)…');
  sh('apt-get', ['update', '-qq']);
  const r = spawnSync('apt-get', ['install', '-y', '-qq', 'python3-torch', 'libopenblas0-openmp'], {
    stdio: 'ignore',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.status !== 0) console.log('apt-get install failed; the PyTorch side is skipped');
  return torchReady();
}

function measure(label: string, argv: string[]): Measured {
  const out = join(CACHE, `${label}.out.json`);
  const r = spawnSync(PY, ['bench/measure.py', out, '--', ...argv], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`measure ${label} failed: ${r.stderr}`);
  const m = JSON.parse(r.stdout) as Omit<Measured, 'meanNll'>;
  if (m.exitCode !== 0) throw new Error(`${label} exited ${m.exitCode}: ${m.stderr}`);
  const res = JSON.parse(readFileSync(out, 'utf8')) as { sequences: { meanNll: number }[] };
  const meanNll = res.sequences.reduce((a, s) => a + s.meanNll, 0) / res.sequences.length;
  return { ...m, meanNll };
}

/** The langquant command timed: the real CLI, as a user runs it. */
function langquantCommand(model: string, ids: string): { argv: string[]; how: string } {
  return {
    argv: [process.execPath, 'bin/langquant.mjs', 'nll', '--model', model, '--ids', ids, '--engine', engine],
    how: `langquant nll --engine ${engine}`,
  };
}

mkdirSync(CACHE, { recursive: true });
console.log('preparing the GPT-2-small-shaped checkpoint and ids (cached)…');
const model = ensureCheckpoint(join(CACHE, 'gpt2-small-random'));
const ids = ensureIds(join(CACHE, 'ids-4x1024.json'), 4, 1024);
const tokens = 4 * 1024;
const weightsMiB = weightBytes() / 2 ** 20;
const lq = langquantCommand(model, ids);
const torchOk = withTorch && ensureTorch();

const loadBefore = loadavg();
const best = (a: Measured | undefined, b: Measured) => (a && a.wallS <= b.wallS ? a : b);
let ours: Measured | undefined;
let torch: Measured | undefined;
for (let i = 0; i < repeat; i++) {
  ours = best(ours, measure('langquant', lq.argv));
  if (torchOk) torch = best(torch, measure('torch', [PY, 'bench/torch_gpt2.py', model, ids]));
}

const mib = (kib: number) => kib / 1024;
const row = (name: string, m: Measured) =>
  `| ${name} | ${m.wallS.toFixed(2)} | ${m.cpuS.toFixed(1)} | ${(tokens / m.wallS).toFixed(0)} | ${mib(m.maxRssKiB).toFixed(0)} | ${(mib(m.maxRssKiB) / weightsMiB).toFixed(2)}× | ${m.meanNll.toFixed(6)} |`;
console.log('');
console.log(
  `machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores; load average before: ${loadBefore.map((x) => x.toFixed(2)).join(' ')}`,
);
console.log(
  `model: GPT-2-small shape, random weights, fp32 weights ${weightsMiB.toFixed(0)} MiB; input: 4 × 1024 token ids; best of ${repeat}`,
);
console.log(`langquant: ${lq.how}`);
if (torchOk)
  console.log(
    `PyTorch: ${sh(PY, ['-c', 'import torch; print(torch.__version__)']).out.trim()} (Debian python3-torch), BLAS ${blasTarget()}`,
  );
console.log('');
console.log('| process | wall s | CPU s | tokens/s | peak RSS MiB | RSS / fp32 weights | mean NLL |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
console.log(row(`langquant (${engine})`, ours!));
// e.g. --engine auto on a machine where onnxruntime does not load: the notice says which engine ran.
if (ours!.stderr.trim()) console.log(`(langquant said: ${ours!.stderr.trim()})`);
if (torch) console.log(row('PyTorch plain forward', torch));
if (torch) {
  const diff = Math.abs(ours!.meanNll - torch.meanNll);
  console.log('');
  console.log(`speed-up: ${(torch.wallS / ours!.wallS).toFixed(2)}× (target ≥ 1.5×)`);
  console.log(`mean NLL difference: ${diff.toExponential(2)} (${diff <= 1e-3 ? 'agree' : 'DISAGREE'} within 1e-3)`);
}
console.log(`langquant peak RSS: ${(mib(ours!.maxRssKiB) / weightsMiB).toFixed(2)}× the fp32 weights (target ≤ 2.5×)`);
