// The trainer end to end on tiny models: the BPE tokenizer loads in @huggingface/tokenizers and
// round-trips; a few steps make the loss fall for each architecture; the saved folder is read by
// the model engine (src/model/load.ts + src/model/forward.ts) with the same loss as the trainer's
// own forward; an interrupted run resumes to the same weights; user mistakes get one-line messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainBpe, tokenizerJson, tokenizerConfigJson } from '../../src/train/bpe.ts';
import { loadTokenizer } from '../../src/model/tokenizer.ts';
import { defaultMix, DEFAULT_UNSEEN, makeMix } from '../../src/train/mix.ts';
import { parse as parseYaml } from 'yaml';
import { train, type TrainOptions } from '../../src/train/trainer.ts';
import { mixTexts, tokenizerWeights } from '../../src/train/data.ts';
import { TrainNet, TRAIN_ARCHS, type TrainArch } from '../../src/train/net.ts';
import { importTensors } from '../../src/train/save.ts';
import { setSimd } from '../../src/kernels/simd.ts';
import { loadModel } from '../../src/model/load.ts';
import { forward } from '../../src/model/forward.ts';
import { CheckpointError } from '../../src/errors.ts';
import { ROOT, runCli } from '../helpers/cli.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'lq-train-'));
const MIX = makeMix('test', { shares: { eng: 0.6, fra: 0.3, swh: 0.1, yor: 0 } });

function tiny(arch: TrainArch, out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    arch,
    layers: 2,
    hidden: 16,
    heads: 2,
    context: 16,
    vocabSize: 300,
    steps: 30,
    batch: 4,
    lr: 0.01,
    seed: 1,
    mix: MIX,
    out,
    evaluate: false,
    ...extra,
  };
}

test('BPE tokenizer: tokenizer.json loads in @huggingface/tokenizers, round-trips every script, favours the mix', async () => {
  const texts = mixTexts(makeMix('t', { shares: { eng: 0.9, swh: 0.1, khm: 0 } }));
  const bpe = trainBpe(tokenizerWeights(texts), { vocabSize: 600 });
  assert.equal(bpe.vocab.size, 600);
  const dir = tmp();
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(bpe)));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfigJson(bpe, 64)));
  const tok = await loadTokenizer(dir);
  assert.equal(tok.vocabSize, 600);
  const samples = [
    'All human beings are born free.',
    'Kila mtu amezaliwa huru',
    'មនុស្សទាំងអស់',
    '人人生而自由',
    'Ὅλοι οἱ ἄνθρωποι',
    '  two  spaces\n\nand lines\t',
    "it's 1948!",
  ];
  for (const s of samples) assert.equal(tok.decode(tok.encode(s)), s, `round trip of ${JSON.stringify(s)}`);
  const perByte = (lang: string) => {
    const t = texts.find((x) => x.lang === lang)!;
    return tok.encode(t.heldOut).length / Buffer.byteLength(t.heldOut);
  };
  // The scarce language is split into more tokens per byte, the unseen one into more still.
  assert.ok(
    perByte('eng') < perByte('swh') && perByte('swh') < perByte('khm'),
    `tokens/byte eng ${perByte('eng')} swh ${perByte('swh')} khm ${perByte('khm')}`,
  );
});

for (const arch of TRAIN_ARCHS) {
  test(`${arch}: a few steps lower the loss; the engine reads the folder and gets the trainer's loss`, async () => {
    const out = tmp();
    const res = await train(tiny(arch, out));
    assert.equal(res.finished, true);
    const first = res.losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = res.losses.slice(-5).reduce((a, b) => a + b) / 5;
    assert.ok(last < first - 0.3, `loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
    for (const f of ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'training.json'])
      assert.ok(existsSync(join(out, f)), f);
    assert.ok(!existsSync(join(out, 'checkpoint.safetensors')), 'checkpoint removed when done');
    const training = JSON.parse(readFileSync(join(out, 'training.json'), 'utf8'));
    assert.equal(training.seed, 1);
    assert.equal(training.steps, 30);
    assert.deepEqual(Object.keys(training.mix.shares), ['eng', 'fra', 'swh', 'yor']);

    // The engine's loader + forward on the saved folder vs the trainer's forward on the same weights.
    const model = loadModel(out);
    assert.equal(model.config.arch, arch);
    const c = model.config;
    const net = new TrainNet(
      {
        arch,
        vocabSize: c.vocabSize,
        layers: c.numLayers,
        hidden: c.hiddenSize,
        heads: c.numHeads,
        context: c.maxPositions!,
      },
      { maxBatch: 1 },
    );
    const tensors = new Map([...model.weights].map(([k, t]) => [k, t]));
    importTensors(net, tensors);
    const tok = await loadTokenizer(out);
    const ids = Int32Array.from(tok.encode('All human beings are born free and equal in dignity')).subarray(0, 16);
    const T = ids.length;
    const logits = forward(model, ids);
    const V = c.vocabSize;
    let engineNll = 0;
    for (let t = 0; t < T - 1; t++) {
      let m = -Infinity;
      for (let v = 0; v < V; v++) m = Math.max(m, logits[t * V + v]);
      let s = 0;
      for (let v = 0; v < V; v++) s += Math.exp(logits[t * V + v] - m);
      engineNll += m + Math.log(s) - logits[t * V + ids[t + 1]];
    }
    const targets = new Int32Array(T).fill(-1);
    for (let t = 0; t < T - 1; t++) targets[t] = ids[t + 1];
    const mine = net.forward(ids, targets, 1, T);
    assert.ok(
      Math.abs(mine / (T - 1) - engineNll / (T - 1)) < 1e-5,
      `trainer ${mine / (T - 1)} engine ${engineNll / (T - 1)}`,
    );
  });
}

test('an interrupted training resumes from its checkpoint to the same weights as an uninterrupted one', async () => {
  const a = tmp();
  const b = tmp();
  await train(tiny('gpt_neox', a, { steps: 8, checkpointEvery: 2 }));
  const stopped = await train(tiny('gpt_neox', b, { steps: 8, checkpointEvery: 2, stopAfter: 5 }));
  assert.equal(stopped.finished, false);
  assert.ok(existsSync(join(b, 'checkpoint.safetensors')));
  const resumed = await train(tiny('gpt_neox', b, { steps: 8, checkpointEvery: 2 }));
  assert.equal(resumed.resumedFrom, 5);
  assert.deepEqual(readFileSync(join(b, 'model.safetensors')), readFileSync(join(a, 'model.safetensors')));
  // A checkpoint of other options is refused rather than silently mixed.
  const c = tmp();
  await train(tiny('gpt2', c, { steps: 8, stopAfter: 3 }));
  await assert.rejects(train(tiny('gpt2', c, { steps: 8, lr: 0.02 })), /other options/);
  // A damaged checkpoint is a one-line message, not a crash.
  const d = tmp();
  const header = (json: string) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([b, Buffer.from(json), Buffer.alloc(16)]);
  };
  for (const [bytes, why] of [
    [header('{not json'), /is damaged \(its header is not JSON\); delete it to start the training afresh/],
    [
      header('{"params":{"dtype":"F32","shape":[9],"data_offsets":[0,36]}}'),
      /is damaged \(the data of params lies outside the file\)/,
    ],
    [Buffer.alloc(5), /is truncated; delete it/],
  ] as const) {
    writeFileSync(join(d, 'checkpoint.safetensors'), bytes);
    await assert.rejects(
      train(tiny('gpt2', d, { steps: 8 })),
      (e: unknown) => e instanceof CheckpointError && why.test((e as Error).message),
    );
  }
  // A finished folder is not overwritten.
  await assert.rejects(train(tiny('gpt_neox', a, { steps: 8 })), /already holds a trained model/);
});

test('the WebAssembly SIMD matmul changes nothing: the same weights and losses with it and without', async () => {
  const runs = [];
  try {
    for (const on of [true, false]) {
      setSimd(on);
      const out = tmp();
      const r = await train(tiny('gpt2', out, { steps: 6 }));
      runs.push({ losses: r.losses, weights: readFileSync(join(out, 'model.safetensors')) });
    }
  } finally {
    setSimd(true);
  }
  assert.deepEqual(runs[0].losses, runs[1].losses);
  assert.ok(runs[0].weights.equals(runs[1].weights), 'model.safetensors identical byte for byte');
});

test('langquant train: mistakes are one-line messages', () => {
  const out = tmp();
  const cases: [string[], RegExp][] = [
    [['train', '--arch', 'llama', '--out', out], /not trainable; choose one of gpt2, opt, gpt_neox/],
    [['train', '--arch', 'gpt2', '--out', out, '--mix', join(out, 'nope.json')], /mix file .* does not exist/],
    [['train', '--arch', 'gpt2', '--out', out, '--hidden', '100', '--heads', '3'], /not divisible by 3 heads/],
    [['train', '--arch', 'gpt2', '--out', out, '--steps', 'ten'], /--steps expects a whole number/],
  ];
  writeFileSync(join(out, 'bad.json'), '{"shares": {"eng": -1}}');
  cases.push([
    ['train', '--arch', 'gpt2', '--out', out, '--mix', join(out, 'bad.json')],
    /share of "eng" must be a number ≥ 0/,
  ]);
  // JSON.parse quotes the broken text, newline included: still one line.
  writeFileSync(join(out, 'broken.json'), 'not json\n');
  cases.push([
    ['train', '--arch', 'gpt2', '--out', out, '--mix', join(out, 'broken.json')],
    /mix file .*broken\.json is not valid JSON \(.*\); fix the file/,
  ]);
  writeFileSync(join(out, 'a-file'), '');
  cases.push([
    ['train', '--arch', 'gpt2', '--out', join(out, 'a-file')],
    /--out .*a-file is a file, not a folder; choose a folder path/,
  ]);
  cases.push([
    ['train', '--arch', 'gpt2', '--out', join(out, 'a-file', 'below')],
    /cannot create the folder --out .*below \(ENOTDIR\); choose a path you can write to/,
  ]);
  cases.push([
    ['train', '--arch', 'gpt2', '--out', out, '--steps', '10', '--warmup', '11'],
    /warmup 11 must be a whole number in 1\.\.10 .*pass --warmup N/,
  ]);
  for (const [args, re] of cases) {
    const r = runCli(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
});

test('langquant train: trains a folder, logs the loss, and resumes after --stop-after', () => {
  const out = tmp();
  const mixFile = join(out, 'mix.json');
  writeFileSync(mixFile, JSON.stringify({ shares: { eng: 3, swh: 1, yor: 0 } }));
  const dir = join(out, 'model');
  const args = [
    'train',
    '--arch',
    'opt',
    '--layers',
    '1',
    '--hidden',
    '16',
    '--heads',
    '2',
    '--context',
    '16',
    '--vocab',
    '300',
    '--steps',
    '6',
    '--batch',
    '2',
    '--lr',
    '0.01',
    '--mix',
    mixFile,
    '--out',
    dir,
    '--checkpoint-every',
    '2',
    '--no-eval',
  ];
  const first = runCli([...args, '--stop-after', '3']);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /stopped after step 3 of 6; rerun the same command to resume/);
  const second = runCli(args);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /trained opt in .* \(6 steps, resumed at 3\)/);
  const log = readFileSync(join(dir, 'train.log'), 'utf8')
    .split('\n')
    .filter((l) => /^\d/.test(l));
  assert.deepEqual(
    log.map((l) => Number(l.split(' ')[0])),
    [1, 2, 3, 4, 5, 6],
  );
  const training = JSON.parse(readFileSync(join(dir, 'training.json'), 'utf8'));
  assert.match(training.command, /^langquant train --arch opt/);
  assert.deepEqual(training.mix.shares, { eng: 0.75, swh: 0.25, yor: 0 });
  assert.equal(training.losses.length, 6);
});

test("--mix default follows the built-in pipeline's language groups: high 88 %, low 12 %, ibo and khm unseen", () => {
  const pipeline = parseYaml(readFileSync(join(ROOT, 'pipelines/disparity.yaml'), 'utf8')) as {
    corpus: { groups: { high: string[]; low: string[] } };
  };
  const { high, low } = pipeline.corpus.groups;
  const mix = defaultMix();
  assert.deepEqual(Object.keys(mix.shares).sort(), [...high, ...low].sort());
  const sum = (langs: string[]) => langs.reduce((a, l) => a + mix.shares[l], 0);
  assert.ok(Math.abs(sum(high) - 0.88) < 1e-12 && Math.abs(sum(low) - 0.12) < 1e-12);
  for (const l of DEFAULT_UNSEEN)
    assert.ok(low.includes(l) && mix.shares[l] === 0, `${l} is a low-resource language the models never see`);
});
