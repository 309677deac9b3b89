// `npm run bench:llama`: the 1.1 B-parameter Llama (TinyLlama's shape: hidden 2048, 22 layers, 32 heads,
// 4 key/value heads, MLP 5632, vocabulary 32000, 2048 positions) in BF16 with random weights (seeded,
// written once to bench/.cache/tinyllama-1.1b, about 2.2 GB), scored on 1024 random token ids by the built
// `langquant nll --engine ort` as a whole process under /usr/bin/time -v. Prints wall and CPU time,
// tokens/s and the peak resident memory as a multiple of the float32 weight size (langquant holds the
// weights as float32: the floor is 1×). Prints, never asserts.
// Options: --tokens N (default 1024), --engine ort|reference|auto (default ort), --out FILE (JSON of the figures).

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { SHAPES, parameterCount, weightBytes, writeCheckpoint, ensureIds } from './checkpoint.ts';
import { timed } from './timed.ts';

const CACHE = 'bench/.cache';
const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const tokens = Math.max(2, Number(opt('--tokens', '1024')) | 0);
const engine = opt('--engine', 'ort');
const outFile = opt('--out', join(CACHE, 'llama.json'));

async function main(): Promise<void> {
  mkdirSync(CACHE, { recursive: true });
  const shape = SHAPES['tinyllama-1.1b'];
  const dir = join(CACHE, 'tinyllama-1.1b');
  const t0 = Date.now();
  let last = 0;
  writeCheckpoint(dir, shape, {
    seed: 1234,
    progress: (d, n) => {
      if (Date.now() - last > 10_000) {
        last = Date.now();
        console.log(`writing ${dir}: ${((100 * d) / n).toFixed(0)} %`);
      }
    },
  });
  if (last > 0) console.log(`written in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const ids = ensureIds(join(CACHE, `llama-ids-1x${tokens}.json`), 1, tokens, 99, shape.vocab);
  const load = loadavg()[0];
  const res = join(CACHE, 'llama.out.json');
  const m = timed(
    [process.execPath, 'bin/langquant.mjs', 'nll', '--model', dir, '--ids', ids, '--engine', engine],
    res,
  );
  if (m.code !== 0) throw new Error(`langquant nll exited ${m.code}:\n${m.stderr}`);
  const out = JSON.parse(readFileSync(res, 'utf8')) as { sequences: { meanNll: number }[] };
  const fp32 = weightBytes(shape);
  const scored = tokens - 1;
  const fig = {
    model: 'TinyLlama-1.1B-shaped, BF16, random weights N(0, 0.02²)',
    parameters: parameterCount(shape),
    tokens,
    engine,
    wallS: m.wallS,
    cpuS: m.cpuS,
    tokensPerS: scored / m.wallS,
    tokensPerCpuS: scored / m.cpuS,
    maxRssMiB: m.maxRssKiB / 1024,
    fp32WeightsMiB: fp32 / 2 ** 20,
    rssOverFp32: (m.maxRssKiB * 1024) / fp32,
    meanNll: out.sequences[0].meanNll,
    loadBefore: load,
    loadAfter: loadavg()[0],
  };
  writeFileSync(outFile, JSON.stringify(fig, null, 2) + '\n');
  console.log(
    `\`langquant nll --engine ${engine}\`, ${(fig.parameters / 1e9).toFixed(2)} B parameters (BF16 file), ` +
      `${tokens} tokens, load average ${load.toFixed(1)} → ${fig.loadAfter.toFixed(1)}`,
  );
  console.log(
    '| wall s | CPU s | tokens/s (wall) | tokens/CPU s | peak RSS | fp32 weights | RSS / fp32 weights | mean NLL |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  console.log(
    `| ${fig.wallS.toFixed(1)} | ${fig.cpuS.toFixed(1)} | ${fig.tokensPerS.toFixed(1)} | ` +
      `${fig.tokensPerCpuS.toFixed(1)} | ${fig.maxRssMiB.toFixed(0)} MiB | ${fig.fp32WeightsMiB.toFixed(0)} MiB | ${fig.rssOverFp32.toFixed(2)}× | ` +
      `${fig.meanNll.toFixed(4)} |`,
  );
  console.log(`figures: ${outFile}`);
}

if (process.argv[1]?.endsWith('llama.ts')) await main();
