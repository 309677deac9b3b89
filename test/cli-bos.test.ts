// `langquant nll --text` and `langquant perplexity` with the BOS convention (src/eval/bos.ts), on the
// golden opt-a model given tokenizer folders shaped like OPT's (add_bos_token: true, </s>), GPT-2's
// (no BOS) and Qwen2's (no BOS token at all) — test/helpers/bos-tokenizers.ts.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GOLDEN, runCli } from './helpers/cli.ts';
import { byteIds, writeBosTokenizer, type BosShape } from './helpers/bos-tokenizers.ts';

const MODEL = `${GOLDEN}models/opt-a`;
const TEXT = 'All human beings are born free.';
const N = byteIds(TEXT).length; // the text's tokens: one per byte

let dir: string;
let textFile: string;
const models: Partial<Record<BosShape, string>> = {};

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'langquant-bos-cli-'));
  textFile = join(dir, 'text.txt');
  writeFileSync(textFile, TEXT);
  for (const shape of ['opt', 'gpt2', 'qwen2'] as const) {
    const m = writeBosTokenizer(join(dir, shape), shape);
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(MODEL, f), join(m, f));
    models[shape] = m;
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface NllText {
  bos: string | null;
  bosId: number | null;
  bosMode: string;
  bosReason: string;
  text: string;
  sequences: { length: number; textTokens: number; nll: number[]; meanNll: number }[];
}

function nllText(shape: BosShape, extra: string[] = []): NllText {
  const r = runCli(['nll', '--model', models[shape]!, '--text', textFile, '--engine', 'reference', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as NllText;
}

function assertOneLineError(r: { code: number; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0, 'exit code');
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
}

test('nll --text: with the OPT convention every token of the text is scored, </s> first; without a BOS one less', () => {
  const withBos = nllText('opt');
  assert.equal(withBos.bos, '</s>');
  assert.equal(withBos.bosId, 2);
  assert.equal(withBos.bosMode, 'auto');
  assert.match(withBos.bosReason, /add_bos_token true/);
  const s = withBos.sequences[0];
  assert.equal(s.textTokens, N);
  assert.equal(s.length, N + 1);
  assert.equal(s.nll.length, N, "scored tokens = the text's tokens");
  // The same numbers as the ids scored directly with the BOS written into the file.
  const idsFile = join(dir, 'with-bos.json');
  writeFileSync(idsFile, JSON.stringify([[2, ...byteIds(TEXT)]]));
  const direct = runCli(['nll', '--model', MODEL, '--ids', idsFile, '--engine', 'reference']);
  assert.equal(direct.code, 0, direct.stderr);
  assert.deepEqual(JSON.parse(direct.stdout).sequences[0].nll, s.nll);

  const never = nllText('opt', ['--bos', 'never']);
  assert.equal(never.bos, null);
  assert.equal(never.bosMode, 'never');
  assert.equal(never.sequences[0].nll.length, N - 1);
  assert.equal(never.sequences[0].textTokens, N);
});

test('nll --text: a GPT-2-like tokenizer has no BOS under auto (first token unscored) and <|endoftext|> under always', () => {
  const auto = nllText('gpt2');
  assert.equal(auto.bos, null);
  assert.equal(auto.bosId, null);
  assert.equal(auto.sequences[0].length, N);
  assert.equal(auto.sequences[0].nll.length, N - 1);
  const always = nllText('gpt2', ['--bos', 'always']);
  assert.equal(always.bos, '<|endoftext|>');
  assert.equal(always.bosId, 0);
  assert.equal(always.bosMode, 'always');
  assert.equal(always.sequences[0].nll.length, N);
});

test('--bos: always without a BOS token, a bad mode, --bos with --ids are one clear line each', () => {
  assertOneLineError(
    runCli(['nll', '--model', models.qwen2!, '--text', textFile, '--bos', 'always']),
    /the tokenizer .*qwen2\/tokenizer\.json has no BOS token .*--bos always cannot prepend one; use --bos auto or --bos never/,
  );
  assertOneLineError(
    runCli(['perplexity', '--model', models.qwen2!, '--text', textFile, '--bos', 'always']),
    /has no BOS token/,
  );
  assertOneLineError(
    runCli(['nll', '--model', models.opt!, '--text', textFile, '--bos', 'sometimes']),
    /--bos sometimes is not a BOS mode; use auto, always, never/,
  );
  const ids = join(dir, 'ids.json');
  writeFileSync(ids, '[[5, 6, 7]]');
  assertOneLineError(
    runCli(['nll', '--model', MODEL, '--ids', ids, '--bos', 'always']),
    /--bos goes with --text: ids given with --ids are scored exactly as given/,
  );
  assertOneLineError(runCli(['nll', '--model', MODEL]), /nothing to score: pass --ids FILE .* or --text FILE/);
  assertOneLineError(
    runCli(['nll', '--model', models.opt!, '--ids', ids, '--text', textFile]),
    /either --ids or --text/,
  );
});

test('perplexity states the convention (JSON fields, header line, convention) and counts bytes on the text alone', () => {
  const r = runCli(['perplexity', '--model', models.opt!, '--text', textFile, '--json', '--engine', 'reference']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.bos, '</s>');
  assert.equal(out.bosId, 2);
  assert.equal(out.bosMode, 'auto');
  assert.equal(out.textTokens, N);
  assert.equal(out.tokens, N);
  assert.equal(out.bytes, Buffer.byteLength(TEXT));
  assert.match(
    out.convention,
    /the BOS put before the text, is never scored, so every token of the text is\. BOS: <\/s> \(id 2\)/,
  );
  const n = nllText('opt').sequences[0];
  assert.ok(Math.abs(out.nllNats - n.nll.reduce((a, b) => a + b, 0)) < 1e-9);

  const plain = runCli([
    'perplexity',
    '--model',
    models.opt!,
    '--text',
    textFile,
    '--bos',
    'never',
    '--engine',
    'reference',
  ]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, new RegExp(`${N} tokens\\n`));
  assert.match(plain.stdout, /BOS {12}none \(the first token of each text is not scored\)/);
  assert.match(plain.stdout, new RegExp(`tokens scored  ${N - 1} in 1 window`));
  assert.match(plain.stdout, /BOS: none \(--bos never/);
});
