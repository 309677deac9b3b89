// `--method gptq|awq` end to end on gpt2-a in a temporary folder: `quantize` writes the golden GPTQ
// weights and a manifest with the method, its parameters, the calibration source and tokens and the
// per-layer calibration error (below RTN's), at RTN's bit cost; `nll --method gptq` scores like the
// golden reference; misuse is one line and a non-zero exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import { GOLDEN, runCli } from '../helpers/cli.ts';
import { readRawSafetensors } from './helpers.ts';

const MODEL = join(GOLDEN, 'models/gpt2-a');
const DIR = join(GOLDEN, 'gptq');
const ref = JSON.parse(readFileSync(join(DIR, 'gptq_gpt2-a.reference.json'), 'utf8'));
const tmp = mkdtempSync(join(tmpdir(), 'lq-method-'));
const calibFile = join(tmp, 'calib.json');
writeFileSync(
  calibFile,
  JSON.stringify(JSON.parse(readFileSync(join(DIR, 'calib_ids.json'), 'utf8'))['gpt2-a'].input_ids),
);
const seq: number[] = JSON.parse(readFileSync(join(MODEL, 'reference.json'), 'utf8')).sequences[1].input_ids;
const idsFile = join(tmp, 'ids.json');
writeFileSync(idsFile, JSON.stringify([seq]));
const GRID = ['--bits', '4', '--group-size', '32', '--scheme', 'asym'];

test('quantize --method gptq writes the golden weights and a manifest with the calibration error per layer', () => {
  const out = join(tmp, 'gptq');
  const r = runCli([
    'quantize',
    '--model',
    MODEL,
    '--out',
    out,
    ...GRID,
    '--method',
    'gptq',
    '--calibration-ids',
    calibFile,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(readFileSync(join(out, 'quantization.json'), 'utf8'));
  assert.equal(m.method, 'gptq');
  assert.equal(m.methodParams.actOrder, false);
  assert.equal(m.methodParams.percDamp, 0.01);
  assert.deepEqual({ source: m.calibration.source, tokens: m.calibration.tokens }, { source: 'ids', tokens: 512 });
  assert.equal(m.calibrationError.length, 8);
  for (const l of m.calibrationError) assert.ok(l.outErr < l.outErrRtn, `${l.name}`);
  assert.equal(m.bitAccounting.bitsPerWeight, 5, 'the same grid costs what RTN costs');
  assert.match(m.bitAccounting.note, /AWQ/);
  const q = loadModel(out);
  const want = readRawSafetensors(join(DIR, 'gpt2-a.w4g32.asym.dequant.safetensors')).tensors;
  for (const [name, t] of want) {
    const got = q.weights.get(name)!.data;
    let d = 0;
    for (let k = 0; k < got.length; k++) d = Math.max(d, Math.abs(got[k] - (t.data as Float32Array)[k]));
    assert.ok(d <= 1e-6, `${name}: ${d}`);
  }
});

test('quantize --method awq records the chosen α per layer, never above RTN on the calibration rows', () => {
  const out = join(tmp, 'awq');
  const r = runCli([
    'quantize',
    '--model',
    MODEL,
    '--out',
    out,
    ...GRID,
    '--method',
    'awq',
    '--awq-clip',
    '--calibration-ids',
    calibFile,
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout);
  assert.equal(m.method, 'awq');
  assert.equal(m.methodParams.clip, true);
  for (const l of m.calibrationError) assert.ok(l.alpha >= 0 && l.alpha < 1);
  assert.equal(m.bitAccounting.bitsPerWeight, 5);
});

test('nll --method gptq scores like the golden GPTQ reference', () => {
  const r = runCli([
    'nll',
    '--model',
    MODEL,
    '--ids',
    idsFile,
    ...GRID,
    '--method',
    'gptq',
    '--calibration-ids',
    calibFile,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const mean = JSON.parse(r.stdout).sequences[0].meanNll;
  assert.ok(Math.abs(mean - ref.variants['w4g32/asym'].gptq.mean_nll_f64[1]) <= 1e-4, `${mean}`);
  assert.match(r.stderr, /GPTQ 4-bit/);
});

test('--method misuse is one line and a non-zero exit', () => {
  const cases: [string[], RegExp][] = [
    [['quantize', '--model', MODEL, '--out', join(tmp, 'x1'), '--method', 'gptq'], /learns from calibration text/],
    [['quantize', '--model', MODEL, '--out', join(tmp, 'x2'), '--method', 'foo'], /not a quantisation method/],
    [['quantize', '--model', MODEL, '--out', join(tmp, 'x3'), '--act-order'], /--act-order applies to --method gptq/],
    [
      [
        'quantize',
        '--model',
        MODEL,
        '--out',
        join(tmp, 'x4'),
        '--method',
        'gptq',
        '--preserve',
        '5%',
        '--calibration-ids',
        calibFile,
      ],
      /preservation is not supported/,
    ],
    [['nll', '--model', MODEL, '--ids', idsFile, '--bits', '4', '--method', 'awq'], /learns from calibration text/],
    [['nll', '--model', MODEL, '--ids', idsFile, '--method', 'awq'], /--method needs --bits/],
  ];
  for (const [args, re] of cases) {
    const r = runCli(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
