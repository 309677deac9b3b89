// End-to-end tests of `langquant nll` and `langquant perplexity` on the golden gpt2-a model.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GOLDEN, runCli } from './helpers/cli.ts';
import { byteToUnicode } from './helpers/bos-tokenizers.ts';

const MODEL = `${GOLDEN}models/gpt2-a`;
const reference = JSON.parse(readFileSync(join(MODEL, 'reference.json'), 'utf8')) as {
  sequences: { input_ids: number[]; nll_f32: number[]; mean_nll_f32: number }[];
};

let dir: string;
/** gpt2-a plus a byte-level tokenizer whose id for byte b is b (vocab.json + empty merges.txt). */
let modelWithTokenizer: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'langquant-scoring-'));
  modelWithTokenizer = join(dir, 'model');
  mkdirSync(modelWithTokenizer);
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(MODEL, f), join(modelWithTokenizer, f));
  const vocab: Record<string, number> = {};
  byteToUnicode().forEach((c, b) => (vocab[c] = b));
  writeFileSync(join(modelWithTokenizer, 'vocab.json'), JSON.stringify(vocab));
  writeFileSync(join(modelWithTokenizer, 'merges.txt'), '#version: 0.2\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

function writeJson(name: string, value: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, typeof value === 'string' ? value : JSON.stringify(value));
  return p;
}

function nll(idsFile: string, extra: string[] = []) {
  return runCli(['nll', '--model', MODEL, '--ids', idsFile, ...extra]);
}

function assertOneLineError(r: { code: number; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0, 'exit code');
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
}

for (const engine of ['reference', 'ort', 'auto']) {
  test(`nll (${engine} engine) on the golden gpt2-a model matches transformers (per token ≤ 1e-4, mean ≤ 1e-5)`, () => {
    const file = writeJson(
      `golden-ids-${engine}.json`,
      reference.sequences.map((s) => s.input_ids),
    );
    const r = nll(file, ['--engine', engine]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { sequences: { length: number; nll: number[]; meanNll: number }[] };
    assert.deepEqual(Object.keys(out), ['sequences']);
    assert.equal(out.sequences.length, reference.sequences.length);
    for (const [i, s] of reference.sequences.entries()) {
      const got = out.sequences[i];
      assert.deepEqual(Object.keys(got), ['length', 'nll', 'meanNll']);
      assert.equal(got.length, s.input_ids.length);
      assert.equal(got.nll.length, s.input_ids.length - 1);
      let worst = 0;
      for (let t = 0; t < got.nll.length; t++) worst = Math.max(worst, Math.abs(got.nll[t] - s.nll_f32[t]));
      assert.ok(worst <= 1e-4, `sequence ${i}: max |Δnll| ${worst}`);
      assert.ok(
        Math.abs(got.meanNll - s.mean_nll_f32) <= 1e-5,
        `sequence ${i}: mean ${got.meanNll} vs ${s.mean_nll_f32}`,
      );
    }
  });
}

test('nll: every kind of bad ids file is one clear line and a non-zero exit (more cases in test/eval/ids.test.ts)', () => {
  const cases: [string, string, RegExp][] = [
    ['not-json.json', '[[1, 2,', /is not valid JSON.*array of token-id arrays/],
    ['flat.json', '[1, 2, 3]', /sequence 0 is a number, not an array of token ids/],
    ['empty-seq.json', '[[1, 2], []]', /sequence 1 has no tokens; each sequence needs at least 2/],
    ['one.json', '[[5]]', /sequence 0 has 1 token; each sequence needs at least 2/],
    [
      'vocab.json',
      '[[1, 2, 1000]]',
      /sequence 0, position 2: token id 1000 is outside the model's vocabulary \(0…999\)/,
    ],
    ['fraction.json', '[[1, 2.5]]', /position 1 is 2.5, not a whole-number token id/],
    [
      'long.json',
      JSON.stringify([Array.from({ length: 129 }, (_, i) => i)]),
      /129 tokens but the model accepts at most 128 positions; split it/,
    ],
  ];
  for (const [name, body, pattern] of cases) assertOneLineError(nll(writeJson(name, body)), pattern);
  assertOneLineError(nll(join(dir, 'missing.json')), /ids file .*missing.json does not exist/);
  assertOneLineError(
    nll(writeJson('ok.json', [[1, 2]]), ['--engine', 'gpu']),
    /--engine gpu is not an engine; use one of auto, ort, reference/,
  );
  assertOneLineError(
    runCli(['nll', '--model', '/no/such/dir', '--ids', writeJson('ok2.json', [[1, 2]])]),
    /does not exist/,
  );
});

// The exact comparisons below use the reference engine: onnxruntime's float32 sums may differ
// between runs in the last bits (thread scheduling), the reference engine's do not.
test('perplexity of a text that fits one window equals the nll of its ids', () => {
  const text = 'All human beings are born free and equal in dignity and rights.';
  const textFile = writeJson('short.txt', text);
  const r = runCli([
    'perplexity',
    '--model',
    modelWithTokenizer,
    '--text',
    textFile,
    '--json',
    '--engine',
    'reference',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  const ids = [...Buffer.from(text, 'utf8')]; // the test tokenizer: one id per byte, id = byte
  const n = JSON.parse(nll(writeJson('short-ids.json', [ids]), ['--engine', 'reference']).stdout).sequences[0];
  assert.equal(out.tokens, ids.length - 1);
  assert.equal(out.windows, 1);
  assert.equal(out.context, 128);
  assert.equal(out.stride, 64);
  assert.ok(
    Math.abs(out.nllNats - n.meanNll * (ids.length - 1)) < 1e-9,
    `${out.nllNats} vs ${n.meanNll * (ids.length - 1)}`,
  );
  assert.equal(out.bytes, ids.length);
  assert.equal(out.chars, text.length);
  assert.ok(Math.abs(out.tokenPerplexity - Math.exp(n.meanNll)) < 1e-9);
  assert.ok(Math.abs(out.bitsPerByte - out.nllNats / (ids.length * Math.LN2)) < 1e-12);
  assert.ok(Math.abs(out.bitsPerChar - out.nllNats / (text.length * Math.LN2)) < 1e-12);
  assert.match(out.convention, /first token of each text is never scored/);
});

test('perplexity over sliding windows scores each token once, by the window where it is new', () => {
  const text = 'Everyone has the right to life, liberty and security of person. '.repeat(3); // 192 bytes
  const ids = [...Buffer.from(text, 'utf8')];
  const K = 40;
  const S = 15;
  const r = runCli([
    'perplexity',
    '--model',
    modelWithTokenizer,
    '--text',
    writeJson('long.txt', text),
    '--context',
    String(K),
    '--stride',
    String(S),
    '--json',
    '--engine',
    'reference',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  // The same windows by hand, scored by `nll`: window j = ids[jS, jS+K), new targets from the previous end.
  const windows: number[][] = [];
  const firstNew: number[] = [];
  let prevEnd = 1;
  for (let start = 0; ; start += S) {
    const end = Math.min(start + K, ids.length);
    windows.push(ids.slice(start, end));
    firstNew.push(prevEnd - start - 1);
    if (end === ids.length) break;
    prevEnd = end;
  }
  const seqs = JSON.parse(nll(writeJson('windows.json', windows), ['--engine', 'reference']).stdout).sequences as {
    nll: number[];
  }[];
  let sum = 0;
  let count = 0;
  seqs.forEach((s, j) => s.nll.slice(firstNew[j]).forEach((x) => ((sum += x), count++)));
  assert.equal(count, ids.length - 1);
  assert.equal(out.tokens, ids.length - 1);
  assert.equal(out.windows, windows.length);
  assert.ok(Math.abs(out.nllNats - sum) < 1e-9, `${out.nllNats} vs ${sum}`);
  const plain = runCli([
    'perplexity',
    '--model',
    modelWithTokenizer,
    '--text',
    join(dir, 'long.txt'),
    '--context',
    String(K),
    '--stride',
    String(S),
  ]);
  assert.equal(plain.code, 0, plain.stderr);
  for (const label of [
    `tokens scored  ${ids.length - 1} in ${windows.length} windows`,
    'perplexity',
    'bits per byte',
    'bits per char',
    'windows of 40 tokens advancing by 15',
  ])
    assert.ok(plain.stdout.includes(label), label);
});

test('perplexity on the built-in UDHR corpus gives one row per language with an interval', () => {
  const r = runCli([
    'perplexity',
    '--model',
    modelWithTokenizer,
    '--corpus',
    'udhr',
    '--languages',
    'eng,fra',
    '--context',
    '64',
    '--stride',
    '56',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(
    out.languages.map((l: { language: string }) => l.language),
    ['eng', 'fra'],
  );
  const ppl = out.languages.map((l: { tokenPerplexity: number }) => l.tokenPerplexity);
  assert.ok(Math.abs(out.perplexityVariance - ((ppl[0] - ppl[1]) / 2) ** 2) < 1e-6 * out.perplexityVariance + 1e-9);
  for (const l of out.languages) {
    assert.ok(l.units >= 30 && l.tokens > 1000 && l.bitsPerByte > 0);
    assert.ok(l.bitsPerByteInterval.lo <= l.bitsPerByte && l.bitsPerByte <= l.bitsPerByteInterval.hi);
  }
});

test('perplexity on a user corpus folder warns about too little text, or refuses it when asked', () => {
  const corpus = join(dir, 'corpus');
  mkdirSync(corpus);
  writeFileSync(join(corpus, 'eng.txt'), 'All human beings are born free.\n\nEveryone has the right to life.\n');
  writeFileSync(
    join(corpus, 'fra.txt'),
    'Tous les êtres humains naissent libres.\n\nTout individu a droit à la vie.\n',
  );
  const warn = runCli(['perplexity', '--model', modelWithTokenizer, '--corpus', corpus, '--json']);
  assert.equal(warn.code, 0, warn.stderr);
  const out = JSON.parse(warn.stdout);
  assert.deepEqual(
    out.languages.map((l: { language: string; units: number }) => [l.language, l.units]),
    [
      ['eng', 2],
      ['fra', 2],
    ],
  );
  assert.match(warn.stderr, /warning: eng: evaluation text is \d+ tokens, shorter than one scoring window of 128/);
  assert.match(warn.stderr, /warning: fra: only 2 aligned units/);
  assert.equal(out.warnings.length, 4);
  assertOneLineError(
    runCli(['perplexity', '--model', modelWithTokenizer, '--corpus', corpus, '--adequacy', 'refuse']),
    /evaluation text inadequate — eng: /,
  );
});

test('perplexity: bad options and inputs are one clear line each', () => {
  const text = writeJson('t.txt', 'Some text to score here.');
  const m = ['perplexity', '--model', modelWithTokenizer];
  assertOneLineError(runCli([...m]), /nothing to score: pass --text FILE, or --corpus udhr/);
  assertOneLineError(runCli([...m, '--text', join(dir, 'nope.txt')]), /text file .*nope.txt does not exist/);
  assertOneLineError(runCli([...m, '--text', writeJson('empty.txt', '  \n')]), /is empty/);
  assertOneLineError(
    runCli([...m, '--text', writeJson('one.txt', 'a')]),
    /single token; the first token is never scored/,
  );
  assertOneLineError(
    runCli([...m, '--text', text, '--context', '200']),
    /--context 200 is longer than the model's 128 positions/,
  );
  assertOneLineError(
    runCli([...m, '--text', text, '--context', '32', '--stride', '32']),
    /stride 32 must be smaller than the context 32/,
  );
  assertOneLineError(runCli([...m, '--text', text, '--context', 'many']), /--context many is not a whole number/);
  assertOneLineError(runCli([...m, '--text', text, '--corpus', 'udhr']), /either --text or --corpus/);
  assertOneLineError(
    runCli([...m, '--corpus', join(dir, 'flores'), '--languages', 'eng']),
    /corpus .*flores does not exist; use "udhr"/,
  );
  assertOneLineError(
    runCli([...m, '--text', text, '--adequacy', 'maybe']),
    /--adequacy maybe is not a mode; use warn or refuse/,
  );
  assertOneLineError(runCli([...m, '--corpus', 'udhr']), /--corpus udhr needs --languages/);
  assertOneLineError(runCli(['perplexity', '--model', MODEL, '--text', text]), /tokenizer/);
  const bad = join(dir, 'latin1.txt');
  writeFileSync(bad, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x6f, 0x6b]));
  assertOneLineError(runCli([...m, '--text', bad]), /not valid UTF-8/);
});
