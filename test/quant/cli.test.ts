// `langquant quantize` end to end on gpt2-a in a temporary folder: the written checkpoint loads and
// scores like the golden reference, the manifest reports errors and bits; `nll --bits` matches the
// golden quantised NLL; every bad input is one clear line and a non-zero exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import { withWeights } from '../../src/model/model.ts';
import { writeModelDir } from '../../src/model/checkpoint/write.ts';
import { quantizeModel } from '../../src/quant/apply.ts';
import { ConfigError } from '../../src/errors.ts';
import {
  parseBits,
  parseCriterion,
  parseDtype,
  parseGranularity,
  parseGroupSize,
  parseLayers,
  parseLayerShares,
  parseRoles,
  parseScope,
  parseShare,
  resolveCalibrationLanguages,
} from '../../src/cli/commands/quantize.ts';
import { trainBpe, tokenizerJson } from '../../src/train/bpe.ts';
import { GOLDEN, runCli } from '../helpers/cli.ts';

const MODEL = join(GOLDEN, 'models/gpt2-a');
const ref = JSON.parse(readFileSync(join(GOLDEN, 'quant_gpt2.reference.json'), 'utf8'))['gpt2-a'];
const seq: number[] = JSON.parse(readFileSync(join(MODEL, 'reference.json'), 'utf8')).sequences[1].input_ids;
const tmp = mkdtempSync(join(tmpdir(), 'lq-quant-'));
const idsFile = join(tmp, 'ids.json');
writeFileSync(idsFile, JSON.stringify([seq]));

function meanNll(stdout: string): number {
  return (JSON.parse(stdout) as { sequences: { meanNll: number }[] }).sequences[0].meanNll;
}

test('quantize writes a loadable checkpoint + manifest; the untied variant scores like the golden reference', () => {
  const out = join(tmp, 'untied');
  // a staging folder left by a killed run (its process is gone) is cleared by the next run
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const stale = join(tmp, `.untied.partial-${dead}`);
  mkdirSync(stale);
  writeFileSync(join(stale, 'model.safetensors'), 'half');
  const r = runCli([
    'quantize',
    '--model',
    MODEL,
    '--out',
    out,
    '--bits',
    '4',
    '--group-size',
    '32',
    '--scheme',
    'asym',
    '--scope',
    'blocks,output',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /bits\/weight {2}5\.000/);
  assert.deepEqual(
    readdirSync(tmp).filter((n) => n.includes('partial')),
    [],
    'no staging folder left, the stale one removed',
  );
  const m = JSON.parse(readFileSync(join(out, 'quantization.json'), 'utf8'));
  assert.equal(m.tool, 'langquant');
  assert.equal(m.method, 'rtn');
  assert.equal(m.bits, 4);
  assert.equal(m.groupSize, 32);
  assert.equal(m.scheme, 'asym');
  assert.equal(m.tensors.length, 9);
  assert.equal(m.bitAccounting.bitsPerWeight, 5);
  for (const t of m.tensors) {
    assert.ok(t.maxAbsError > 0 && t.meanAbsError > 0 && t.relFrobeniusError > 0 && t.relFrobeniusError < 0.2, t.name);
    assert.ok(
      Math.abs(t.maxAbsError - ref.variants['asym/blocks+lm_head_untied'].tensors[t.name].max_abs_error) < 1e-7,
    );
  }
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(cfg.tie_word_embeddings, false, 'a quantised untied copy needs its own lm_head');
  // the written F32 weights are exactly the dequantised ones
  const written = loadModel(out);
  const mem = quantizeModel(loadModel(MODEL), {
    spec: { bits: 4, groupSize: 32, scheme: 'asym' },
    scope: { blocks: true, output: 'untied', embeddings: false },
  });
  for (const [name, t] of mem.model.weights) assert.deepEqual(written.weights.get(name)!.data, t.data, name);
  const nll = runCli(['nll', '--model', out, '--ids', idsFile, '--engine', 'reference']);
  assert.equal(nll.code, 0, nll.stderr);
  const got = meanNll(nll.stdout);
  assert.ok(Math.abs(got - ref.variants['asym/blocks+lm_head_untied'].mean_nll_f32) <= 1e-5, `mean NLL ${got}`);
  // the folder exists now: refused without --force, replaced with it
  const again = runCli(['quantize', '--model', MODEL, '--out', out]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /already exists and is not empty; choose another folder or pass --force/);
  const forced = runCli([
    'quantize',
    '--model',
    MODEL,
    '--out',
    out,
    '--force',
    '--bits',
    '8',
    '--dtype',
    'f16',
    '--json',
  ]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(JSON.parse(forced.stdout).bits, 8);
  assert.equal(loadModel(out).info.dtypes['transformer.h.0.attn.c_attn.weight'], 'F16');
});

test('nll --bits --group-size --scheme matches the golden quantised mean NLL (sym and asym, blocks)', () => {
  for (const scheme of ['sym', 'asym']) {
    const r = runCli([
      'nll',
      '--model',
      MODEL,
      '--ids',
      idsFile,
      '--engine',
      'reference',
      '--bits',
      '4',
      '--group-size',
      '32',
      '--scheme',
      scheme,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const got = meanNll(r.stdout);
    assert.ok(Math.abs(got - ref.variants[`${scheme}/blocks`].mean_nll_f32) <= 1e-5, `${scheme}: ${got}`);
    // the cost is shown next to the result, on stderr (stdout stays the JSON contract)
    const bpw = scheme === 'sym' ? '4.500' : '5.000';
    assert.match(
      r.stderr,
      new RegExp(
        `quantised 8 block linear weights \\(RTN 4-bit ${scheme}, group 32\\): ${bpw} bits/weight over 98,304 weights`,
      ),
    );
  }
});

test('preservation with calibration ids: activation criterion, dense columns, per-layer budget; manifest says so', () => {
  const calib = join(tmp, 'calib.json');
  writeFileSync(calib, JSON.stringify([Array.from({ length: 200 }, (_, i) => (i * 37) % 1000)]));
  const out = join(tmp, 'kept');
  const r = runCli([
    'quantize',
    '--model',
    MODEL,
    '--out',
    out,
    '--bits',
    '3',
    '--group-size',
    '16',
    '--preserve',
    '10%',
    '--criterion',
    'activation',
    '--granularity',
    'column',
    '--budget',
    'layer',
    '--calibration-ids',
    calib,
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout);
  assert.equal(m.method, 'rtn+preserve');
  assert.deepEqual(m.preservation, {
    criterion: 'activation',
    granularity: 'column',
    budget: 'layer',
    share: 0.1,
    layerShares: null,
    scaleFrom: 'remaining',
  });
  assert.equal(m.calibration.source, 'ids');
  assert.equal(m.calibration.tokens, 200);
  assert.ok(m.bitAccounting.kept > 0 && m.bitAccounting.kept <= 0.1 * m.bitAccounting.weights);
  assert.ok(m.tensors.some((t: { keptColumns: number }) => t.keptColumns > 0));
  const map = runCli(['quantize', '--model', MODEL, '--out', join(tmp, 'map'), '--layer-shares', '1=0.2', '--json']);
  assert.equal(map.code, 0, map.stderr);
  const mm = JSON.parse(map.stdout);
  assert.deepEqual(mm.preservation.layerShares, { 1: 0.2 });
  for (const t of mm.tensors) assert.equal(t.kept > 0, t.name.includes('.h.1.'), t.name);
});

test("calibration from a text file and from UDHR languages, tokenised with the model folder's tokenizer", () => {
  // gpt2-a with a small byte-level BPE tokenizer (ids < 1000) so that text can be tokenised
  const dir = join(tmp, 'with-tokenizer');
  mkdirSync(dir);
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(MODEL, f), join(dir, f));
  const sample = 'All human beings are born free and equal in dignity and rights. Watu wote wamezaliwa huru. ';
  writeFileSync(
    join(dir, 'tokenizer.json'),
    JSON.stringify(tokenizerJson(trainBpe([{ text: sample.repeat(3) }], { vocabSize: 300 }))),
  );
  const text = join(tmp, 'calib.txt');
  writeFileSync(text, sample.repeat(4));
  const a = runCli([
    'quantize',
    '--model',
    dir,
    '--out',
    join(tmp, 'cal-text'),
    '--preserve',
    '0.05',
    '--criterion',
    'hessian',
    '--calibration-text',
    text,
    '--json',
  ]);
  assert.equal(a.code, 0, a.stderr);
  const ma = JSON.parse(a.stdout);
  assert.equal(ma.calibration.source, 'text');
  assert.ok(ma.calibration.tokens > 20);
  assert.ok(existsSync(join(tmp, 'cal-text', 'tokenizer.json')), 'the tokenizer travels with the checkpoint');
  const b = runCli([
    'quantize',
    '--model',
    dir,
    '--out',
    join(tmp, 'cal-lang'),
    '--preserve',
    '0.05',
    '--criterion',
    'activation',
    '--calibration-languages',
    'eng,swh',
    '--calibration-tokens',
    '2000',
    '--json',
  ]);
  assert.equal(b.code, 0, b.stderr);
  const mb = JSON.parse(b.stdout);
  assert.deepEqual(mb.calibration.languages, ['eng', 'swh']);
  assert.equal(mb.calibration.seed, 0);
  assert.ok(mb.calibration.tokens > 100 && mb.calibration.tokens <= 2000);
});

test('bad flags: every parser names the value and what to do', () => {
  const cases: [() => unknown, RegExp][] = [
    [() => parseBits('9'), /--bits 9 is not supported: bits must be an integer from 2 to 8/],
    [() => parseBits('1'), /bits must be an integer from 2 to 8/],
    [() => parseBits('4.5'), /--bits 4.5 is not supported/],
    [() => parseBits('four'), /--bits four is not supported/],
    [() => parseGroupSize('0'), /--group-size 0 is not valid/],
    [() => parseShare('1'), /--preserve 1 is not a share in \[0, 1\)/],
    [() => parseShare('-0.1'), /--preserve -0.1 is not a share in \[0, 1\)/],
    [() => parseShare('150%'), /not a share in \[0, 1\)/],
    [
      () => parseCriterion('salience'),
      /--criterion salience is not a preservation criterion; use one of magnitude, activation, hessian/,
    ],
    [() => parseGranularity('row'), /--granularity row is not valid/],
    [() => parseRoles('ffn'), /--roles: "ffn" is not a module role/],
    [() => parseScope('everything'), /--scope: "everything" is not a scope item/],
    [() => parseScope('output,output-tied'), /not both/],
    [() => parseLayers('3-1'), /not a layer index or range/],
    [() => parseLayerShares('x=1'), /is not LAYER=SHARE/],
    [() => parseLayerShares('0=1.0'), /not a share in \[0, 1\)/],
    [() => parseLayerShares('0=0.1,0=0.2'), /--layer-shares gives 0 twice/],
    [() => parseLayerShares('rest=0.1,rest=0.2'), /--layer-shares gives rest twice/],
    [() => parseDtype('int4'), /--dtype int4 is not supported/],
  ];
  for (const [fn, re] of cases)
    assert.throws(fn, (e: Error) => e instanceof ConfigError && re.test(e.message), String(fn));
  assert.equal(parseShare('5%'), 0.05);
  assert.equal(parseShare('0'), 0);
  assert.deepEqual(parseLayers('0,2,4-6'), [0, 2, 4, 5, 6]);
  assert.deepEqual(parseScope('blocks,output-tied'), { blocks: true, output: 'tied', embeddings: false });
  assert.deepEqual(
    [...parseLayerShares('0=0.1,3=20%,rest=0.02').shares],
    [
      [0, 0.1],
      [3, 0.2],
    ],
  );
  assert.equal(parseGroupSize('channel'), 'channel');
  assert.deepEqual(resolveCalibrationLanguages('high,swh').length, 11);
});

test('bad input through the CLI: one clear line and a non-zero exit each, nothing written', () => {
  const out = join(tmp, 'bad');
  const cases: [string[], RegExp][] = [
    [['--bits', '9'], /--bits 9 is not supported: bits must be an integer from 2 to 8/],
    [['--preserve', '0.1', '--criterion', 'salience'], /--criterion salience is not a preservation criterion/],
    [['--preserve=-0.1'], /--preserve -0.1 is not a share in \[0, 1\)/],
    [
      ['--calibration-text', join(tmp, 'missing.txt'), '--preserve', '0.1', '--criterion', 'activation'],
      /calibration text .*missing.txt does not exist/,
    ],
    [
      ['--preserve', '0.1', '--criterion', 'hessian'],
      /--criterion hessian ranks weights by calibration activations; give --calibration-text FILE/,
    ],
    [['--layers', '5'], /layer 5 is not a block of this model \(it has layers 0..1\)/],
    [['--layer-shares', '5=0.1'], /a preserved share is given for layer 5, but this model has layers 0..1/],
    [
      ['--criterion', 'activation', '--calibration-ids', idsFile],
      /--criterion, --calibration-ids only apply to preservation; add --preserve P/,
    ],
  ];
  for (const [args, re] of cases) {
    const r = runCli(['quantize', '--model', MODEL, '--out', out, ...args]);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.ok(!existsSync(out), 'nothing written');
  }
  const nll = runCli(['nll', '--model', MODEL, '--ids', idsFile, '--scheme', 'sym']);
  assert.notEqual(nll.code, 0);
  assert.match(nll.stderr, /--group-size and --scheme need --bits/);
});

test('NaN or Inf in a weight, inside the scope or not: refused naming the tensor, nothing written', () => {
  const model = loadModel(MODEL);
  for (const [name, bad] of [
    ['transformer.h.1.mlp.c_fc.weight', NaN],
    ['transformer.wpe.weight', -Infinity],
  ] as const) {
    const t = model.weights.get(name)!;
    const data = Float32Array.from(t.data);
    data[77] = bad;
    const dir = join(tmp, `nan-${bad}`);
    writeModelDir(dir, withWeights(model, new Map([[name, { data, shape: t.shape }]])), { dtype: 'F32' });
    const out = join(tmp, `nan-out-${bad}`);
    const r = runCli(['quantize', '--model', dir, '--out', out]);
    assert.notEqual(r.code, 0);
    // the loader refuses it before the quantiser sees it, naming the file, the tensor and the index
    assert.match(
      r.stderr,
      new RegExp(
        `model\\.safetensors: tensor "${name.replaceAll('.', '\\.')}" holds ${bad} at flat index 77 \\(element \\[\\d+, \\d+\\]\\); the weights are damaged`,
      ),
    );
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.ok(!existsSync(out));
  }
});
