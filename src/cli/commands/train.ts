// `langquant train --arch gpt2|opt|gpt_neox --out DIR …`: trains a small model from scratch on a
// controlled UDHR language mix (src/train/trainer.ts) with a progress bar and a loss log
// (DIR/train.log); rerunning the same command after an interruption resumes from DIR's checkpoint.

import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { ConfigError } from '../../errors.ts';
import { readMix } from '../../train/mix.ts';
import { train, type TrainOptions } from '../../train/trainer.ts';
import type { TrainArch } from '../../train/net.ts';

function int(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n))
      throw new ConfigError(`${flag} expects a whole number, got "${v}"`);
    return n;
  };
}

function num(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`${flag} expects a number, got "${v}"`);
    return n;
  };
}

interface Opts {
  arch: string;
  layers: number;
  hidden: number;
  heads: number;
  context: number;
  vocab: number;
  steps: number;
  batch: number;
  lr: number;
  warmup?: number;
  seed: number;
  mix: string;
  out: string;
  checkpointEvery: number;
  eval: boolean;
  progress: boolean;
  stopAfter?: number;
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a small gpt2, opt or gpt_neox model from scratch on a controlled UDHR language mix')
    .requiredOption('--arch <arch>', 'gpt2 | opt | gpt_neox')
    .requiredOption('--out <dir>', 'output folder (a Hugging Face model folder; rerun to resume)')
    .option('--layers <n>', 'transformer blocks', int('--layers'), 4)
    .option('--hidden <n>', 'hidden size', int('--hidden'), 128)
    .option('--heads <n>', 'attention heads', int('--heads'), 4)
    .option('--context <n>', 'context length (tokens)', int('--context'), 128)
    .option('--vocab <n>', 'tokenizer vocabulary (byte-level BPE)', int('--vocab'), 2048)
    .option('--steps <n>', 'optimisation steps', int('--steps'), 250)
    .option('--batch <n>', 'sequences per step', int('--batch'), 4)
    .option('--lr <x>', 'peak learning rate', num('--lr'), 0.003)
    .option('--warmup <n>', 'warmup steps (default 5 % of steps)', int('--warmup'))
    .option('--seed <n>', 'seed of initialisation and batches', int('--seed'), 0)
    .option('--mix <file|default>', 'language shares: a JSON file {"shares": {"eng": 0.5, …}} or "default"', 'default')
    .option('--checkpoint-every <n>', 'steps between checkpoints', int('--checkpoint-every'), 50)
    .option(
      '--stop-after <n>',
      'stop after this many steps, keeping the checkpoint (as an interruption would)',
      int('--stop-after'),
    )
    .option('--no-eval', 'skip the held-out bits-per-byte table')
    .option('--no-progress', 'no progress bar (the loss log is still written)')
    .action(async (opts: Opts) => {
      const mix = readMix(opts.mix);
      const command = ['langquant', ...process.argv.slice(2)].join(' ');
      const o: TrainOptions = {
        arch: opts.arch as TrainArch,
        layers: opts.layers,
        hidden: opts.hidden,
        heads: opts.heads,
        context: opts.context,
        vocabSize: opts.vocab,
        steps: opts.steps,
        batch: opts.batch,
        lr: opts.lr,
        warmup: opts.warmup,
        seed: opts.seed,
        mix,
        out: opts.out,
        command,
        checkpointEvery: opts.checkpointEvery,
        stopAfter: opts.stopAfter,
        evaluate: opts.eval,
      };
      const bar =
        opts.progress && process.stderr.isTTY
          ? new cliProgress.SingleBar(
              {
                format: 'train [{bar}] {value}/{total} loss {loss} lr {lr} | {duration_formatted} eta {eta_formatted}',
                stream: process.stderr,
              },
              cliProgress.Presets.shades_classic,
            )
          : null;
      let lastPrint = 0;
      const res = await train(o, (p) => {
        if (bar) {
          if (p.step === p.resumedFrom + 1) bar.start(p.steps, p.resumedFrom, { loss: '-', lr: '-' });
          bar.update(p.step, { loss: p.loss.toFixed(3), lr: p.lr.toExponential(2) });
        } else if (opts.progress && (p.step === p.steps || p.elapsedMs - lastPrint > 10_000)) {
          // Not a terminal: a plain line every ten seconds.
          lastPrint = p.elapsedMs;
          process.stderr.write(
            `step ${p.step}/${p.steps} loss ${p.loss.toFixed(4)} lr ${p.lr.toExponential(2)} ${(p.elapsedMs / 1000).toFixed(0)} s\n`,
          );
        }
      });
      bar?.stop();
      const lines = [
        res.finished
          ? `trained ${o.arch} in ${(res.elapsedMs / 1000).toFixed(1)} s (${res.steps} steps${res.resumedFrom ? `, resumed at ${res.resumedFrom}` : ''}); final loss ${res.losses.at(-1)?.toFixed(4)}`
          : `stopped after step ${res.steps} of ${o.steps}; rerun the same command to resume`,
        `folder: ${res.out}`,
      ];
      if (res.heldOut.length) {
        lines.push('held-out bits per byte (share of the mix):');
        for (const h of res.heldOut)
          lines.push(`  ${h.lang.padEnd(8)} ${h.bitsPerByte.toFixed(3)}  (${(h.share * 100).toFixed(1)} %)`);
      }
      process.stdout.write(lines.join('\n') + '\n');
    });
}
