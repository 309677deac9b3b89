// `langquant train` as a library call: tokenizer → network → AdamW loop → Hugging Face folder.
//
// 1. The mix's languages are read from the UDHR training split (data.ts); a byte-level BPE is
//    trained on the same mix (./bpe.ts) and saved as tokenizer.json; the training text is
//    encoded through @huggingface/tokenizers, exactly as any user of the folder will encode it.
// 2. A network of the chosen architecture (net.ts) is initialised from the seed and trained with
//    AdamW, warmup + cosine decay and gradient clipping (optim.ts) on batches drawn from the mix.
// 3. Every `checkpointEvery` steps the parameters, the AdamW moments, the step and the losses are
//    written atomically to OUT/checkpoint.safetensors; a later run with the same options resumes
//    from it and produces the same weights as an uninterrupted run (batches depend only on seed
//    and step). A checkpoint of different options is refused.
// 4. The folder gets config.json, generation_config.json, model.safetensors, tokenizer.json,
//    tokenizer_config.json and training.json (command, seed, mix, steps, time, losses, held-out
//    bits per byte per language, version); the checkpoint is then removed.
// Deterministic: the same options and seed give the same weights on the same machine.

import { appendFileSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { VERSION } from '../version.ts';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer.ts';
import { tokenizerConfigJson, tokenizerJson, trainBpe } from './bpe.ts';
import { BatchSampler, mixTexts, tileStream, tokenizerWeights, type LanguageText, type Stream } from './data.ts';
import { scoreIds, type TextScore } from './evaluate.ts';
import { mixHash, type Mix } from './mix.ts';
import { hfConfig, TrainNet, TRAIN_ARCHS, type NetShape, type TrainArch } from './net.ts';
import { AdamW, DEFAULT_OPTIM } from './optim.ts';
import { CHECKPOINT_FILE, readCheckpoint, writeCheckpoint, writeFileAtomic, writeModelFolder } from './save.ts';

export interface TrainOptions {
  readonly arch: TrainArch;
  readonly layers: number;
  readonly hidden: number;
  readonly heads: number;
  readonly context: number;
  /** Target tokenizer vocabulary (BPE may stop earlier when no pair repeats). */
  readonly vocabSize: number;
  readonly steps: number;
  readonly batch: number;
  readonly lr: number;
  /** Warmup steps (default: 5 % of steps, at least 1). */
  readonly warmup?: number;
  readonly seed: number;
  readonly mix: Mix;
  readonly out: string;
  /** Recorded in training.json. */
  readonly command?: string;
  /** Checkpoint interval in steps (default 50). */
  readonly checkpointEvery?: number;
  /** Stop (as an interruption would) after this many steps, leaving the checkpoint. For tests. */
  readonly stopAfter?: number;
  /** Score held-out text per language at the end (default true). */
  readonly evaluate?: boolean;
}

export interface TrainProgress {
  readonly step: number; // steps completed
  readonly steps: number;
  readonly loss: number;
  readonly lr: number;
  readonly gradNorm: number;
  readonly elapsedMs: number;
  readonly resumedFrom: number;
}

export interface LanguageResult extends TextScore {
  readonly lang: string;
  readonly share: number;
  readonly trainTokens: number;
}

export interface TrainResult {
  readonly out: string;
  /** false when stopped by stopAfter (the checkpoint is kept). */
  readonly finished: boolean;
  readonly steps: number;
  readonly losses: number[];
  readonly elapsedMs: number;
  readonly resumedFrom: number;
  readonly heldOut: LanguageResult[];
}

function positiveInt(name: string, v: number, flag: string): void {
  if (!Number.isInteger(v) || v < 1)
    throw new ConfigError(`${name} must be a whole number ≥ 1, got ${v}; pass ${flag} N`);
}

export function validateTrainOptions(o: TrainOptions): void {
  if (!TRAIN_ARCHS.includes(o.arch))
    throw new ConfigError(`--arch ${String(o.arch)} is not trainable; choose one of ${TRAIN_ARCHS.join(', ')}`);
  positiveInt('layers', o.layers, '--layers');
  positiveInt('hidden size', o.hidden, '--hidden');
  positiveInt('heads', o.heads, '--heads');
  positiveInt('steps', o.steps, '--steps');
  positiveInt('batch', o.batch, '--batch');
  if (!Number.isInteger(o.context) || o.context < 2)
    throw new ConfigError(`context must be a whole number ≥ 2, got ${o.context}; pass --context N`);
  if (o.hidden % o.heads !== 0)
    throw new ConfigError(
      `hidden size ${o.hidden} is not divisible by ${o.heads} heads; choose --hidden a multiple of --heads`,
    );
  if (o.arch === 'gpt_neox' && Math.trunc((o.hidden / o.heads) * 0.25) % 2 !== 0) {
    throw new ConfigError(
      `gpt_neox needs an even number of rotary dims (a quarter of the head width ${o.hidden / o.heads}); choose --hidden/--heads so that the head width is a multiple of 8`,
    );
  }
  if (!Number.isInteger(o.vocabSize) || o.vocabSize < 257 || o.vocabSize > 65535)
    throw new ConfigError(`vocabulary ${o.vocabSize} must be between 257 and 65535; pass --vocab N`);
  if (!(o.lr > 0 && o.lr < 1)) throw new ConfigError(`learning rate ${o.lr} must be in (0, 1); pass --lr e.g. 0.003`);
  if (!Number.isInteger(o.seed) || o.seed < 0) throw new ConfigError(`seed ${o.seed} must be a whole number ≥ 0`);
  if (o.warmup !== undefined && (!Number.isInteger(o.warmup) || o.warmup < 1 || o.warmup > o.steps))
    throw new ConfigError(
      `warmup ${o.warmup} must be a whole number in 1..${o.steps} (the steps); pass --warmup N or leave it out for 5 % of the steps`,
    );
}

/** Creates `out` (and its parents); a path that is a file, or a folder that cannot be made, is the user's to fix. */
function makeOutFolder(out: string): void {
  if (existsSync(out) && !statSync(out).isDirectory())
    throw new ConfigError(`--out ${out} is a file, not a folder; choose a folder path for the model`);
  try {
    mkdirSync(out, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`cannot create the folder --out ${out} (${code}); choose a path you can write to`);
  }
}

/** What must match for a checkpoint to be resumed. */
function identity(o: TrainOptions): string {
  return JSON.stringify({
    arch: o.arch,
    layers: o.layers,
    hidden: o.hidden,
    heads: o.heads,
    context: o.context,
    vocabSize: o.vocabSize,
    steps: o.steps,
    batch: o.batch,
    lr: o.lr,
    warmup: warmupOf(o),
    seed: o.seed,
    mix: mixHash(o.mix),
    version: VERSION,
  });
}

function warmupOf(o: TrainOptions): number {
  return o.warmup ?? Math.max(1, Math.round(o.steps * 0.05));
}

/** Encodes a language's text as ids (no special tokens). */
function encode(tok: TextTokenizer, text: string): number[] {
  return tok.encode(text);
}

export async function train(o: TrainOptions, onProgress?: (p: TrainProgress) => void): Promise<TrainResult> {
  validateTrainOptions(o);
  const out = o.out;
  if (existsSync(join(out, 'training.json')) && !existsSync(join(out, CHECKPOINT_FILE))) {
    throw new ConfigError(
      `${out} already holds a trained model (training.json); choose another --out or delete the folder`,
    );
  }
  makeOutFolder(out);
  const id = identity(o);
  const ck = readCheckpoint(out);
  if (ck && ck.state.identity !== id) {
    throw new ConfigError(
      `${out}/${CHECKPOINT_FILE} belongs to a training with other options (${ck.state.identity}); rerun with the same options to resume, or choose another --out`,
    );
  }

  // 1. Text, tokenizer, token streams.
  const texts: LanguageText[] = mixTexts(o.mix);
  const bpe = trainBpe(tokenizerWeights(texts), { vocabSize: o.vocabSize });
  const tokJson = tokenizerJson(bpe);
  const tokConfig = tokenizerConfigJson(bpe, o.context);
  writeFileAtomic(join(out, 'tokenizer.json'), JSON.stringify(tokJson) + '\n');
  writeFileAtomic(join(out, 'tokenizer_config.json'), JSON.stringify(tokConfig, null, 2) + '\n');
  const tok = await loadTokenizer(join(out, 'tokenizer.json'));
  const vocabSize = bpe.endOfTextId + 1;
  const newline = encode(tok, '\n');
  const streams: Stream[] = [];
  const trainTokens = new Map<string, number>();
  for (const t of texts) {
    if (t.share <= 0) continue;
    const ids = encode(tok, t.train);
    trainTokens.set(t.lang, ids.length);
    streams.push({ lang: t.lang, share: t.share, ids: tileStream(ids, newline, o.context + 1) });
  }
  const sampler = new BatchSampler(streams, o.context);

  // 2. Network and optimiser.
  const shape: NetShape = {
    arch: o.arch,
    vocabSize,
    layers: o.layers,
    hidden: o.hidden,
    heads: o.heads,
    context: o.context,
    bosTokenId: bpe.endOfTextId,
    eosTokenId: bpe.endOfTextId,
  };
  const net = new TrainNet(shape, { maxBatch: o.batch });
  net.init(o.seed);
  const optim = new AdamW(
    { ...DEFAULT_OPTIM, lr: o.lr, steps: o.steps, warmupSteps: warmupOf(o) },
    net.slots,
    net.numParams,
  );
  let start = 0;
  let losses: number[] = [];
  let elapsedBefore = 0;
  if (ck) {
    if (ck.params.length !== net.numParams)
      throw new ConfigError(`${out}/${CHECKPOINT_FILE} does not fit this network; choose another --out`);
    net.params.set(ck.params);
    optim.m.set(ck.m);
    optim.v.set(ck.v);
    start = ck.state.step;
    losses = [...ck.state.losses];
    elapsedBefore = ck.state.elapsedMs;
  }
  const logPath = join(out, 'train.log');
  if (!ck) writeFileSync(logPath, `# ${o.command ?? 'langquant train'}\n# step loss lr grad_norm elapsed_s\n`);
  else appendFileSync(logPath, `# resumed at step ${start}\n`);

  // 3. The loop.
  const B = o.batch,
    T = o.context;
  const ids = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const every = o.checkpointEvery ?? 50;
  const t0 = performance.now();
  const elapsed = () => elapsedBefore + (performance.now() - t0);
  const stopAt = Math.min(o.steps, o.stopAfter ?? o.steps);
  for (let s = start; s < stopAt; s++) {
    sampler.sample(o.seed, s, B, ids, targets);
    const total = net.forward(ids, targets, B, T);
    const count = net.scoredCount;
    net.zeroGrad();
    net.backward(1 / count);
    const { lr, gradNorm } = optim.step(net.params, net.grads, s);
    const loss = total / count;
    if (!Number.isFinite(loss)) throw new Error(`training diverged at step ${s + 1} (loss ${loss}); lower --lr`);
    losses.push(Math.round(loss * 1e4) / 1e4);
    appendFileSync(
      logPath,
      `${s + 1} ${loss.toFixed(4)} ${lr.toExponential(3)} ${gradNorm.toFixed(3)} ${(elapsed() / 1000).toFixed(1)}\n`,
    );
    onProgress?.({ step: s + 1, steps: o.steps, loss, lr, gradNorm, elapsedMs: elapsed(), resumedFrom: start });
    const done = s + 1;
    // Also at the last step, so that an interruption during scoring or export resumes after the loop.
    if (done % every === 0 || done === stopAt) {
      writeCheckpoint(out, net, optim.m, optim.v, { step: done, losses, elapsedMs: elapsed(), identity: id });
    }
  }
  if (stopAt < o.steps) {
    return { out, finished: false, steps: stopAt, losses, elapsedMs: elapsed(), resumedFrom: start, heldOut: [] };
  }
  const trainMs = elapsed();

  // 4. Held-out scores, the folder, training.json.
  const heldOut: LanguageResult[] = [];
  if (o.evaluate ?? true) {
    for (const t of texts) {
      const hid = Int32Array.from(encode(tok, t.heldOut));
      const sc = scoreIds(net, hid, Buffer.byteLength(t.heldOut, 'utf8'), o.context);
      heldOut.push({ lang: t.lang, share: t.share, trainTokens: trainTokens.get(t.lang) ?? 0, ...sc });
    }
  }
  const config = hfConfig(shape);
  writeModelFolder(out, net, {
    config,
    generationConfig: { bos_token_id: bpe.endOfTextId, eos_token_id: bpe.endOfTextId, transformers_version: '4.40.2' },
    tokenizer: tokJson,
    tokenizerConfig: tokConfig,
  });
  const training = {
    tool: 'langquant',
    version: VERSION,
    command: o.command ?? null,
    arch: o.arch,
    shape: { layers: o.layers, hidden: o.hidden, heads: o.heads, context: o.context, vocabSize },
    parameters: net.numParams,
    seed: o.seed,
    steps: o.steps,
    batch: o.batch,
    lr: o.lr,
    warmup: warmupOf(o),
    optimizer: { name: 'AdamW', ...DEFAULT_OPTIM, schedule: 'linear warmup, cosine decay to minLrShare·lr' },
    mix: { source: o.mix.source, shares: o.mix.shares },
    data: {
      corpus: 'udhr',
      split: 'training units (src/data/splits.ts, trainingSeed 0)',
      trainTokens: Object.fromEntries(trainTokens),
    },
    timeSeconds: Math.round(trainMs / 100) / 10,
    resumedFrom: start,
    finalLoss: losses.length ? losses[losses.length - 1] : null,
    meanLossLast50: losses.length
      ? Math.round((losses.slice(-50).reduce((a, b) => a + b, 0) / Math.min(50, losses.length)) * 1e4) / 1e4
      : null,
    losses,
    heldOut: heldOut.map((h) => ({
      lang: h.lang,
      share: Math.round(h.share * 1e4) / 1e4,
      trainTokens: h.trainTokens,
      tokens: h.tokens,
      bytes: h.bytes,
      nllNats: Math.round(h.nllNats * 1000) / 1000,
      bitsPerByte: Math.round(h.bitsPerByte * 1e4) / 1e4,
    })),
    heldOutConvention: `the evaluation units of the data layer's split at seed 0 (src/data/splits.ts); windows of ${o.context} tokens advancing by ${Math.floor(o.context / 2)}, each token scored once (src/eval/windows.ts)`,
  };
  writeFileAtomic(join(out, 'training.json'), JSON.stringify(training, null, 2) + '\n');
  rmSync(join(out, CHECKPOINT_FILE), { force: true });
  return { out, finished: true, steps: o.steps, losses, elapsedMs: trainMs, resumedFrom: start, heldOut };
}
