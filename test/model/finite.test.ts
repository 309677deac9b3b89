// Non-finite weights: the block scan against its naive twin, the loader's refusal in every format
// and dtype (naming file, tensor and first index), ignored buffers left alone, and inspect --check's
// statistics, all-zero and sibling findings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CheckpointError } from '../../src/errors.ts';
import { checkWeights, siblingOutliers, siblingKey, type TensorCheck } from '../../src/model/check.ts';
import { firstNonFinite, unravelIndex } from '../../src/model/finite.ts';
import { loadModel } from '../../src/model/load.ts';
import type { DType } from '../../src/tensor/dtype.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';
import { Rng } from '../../src/util/rng.ts';
import {
  copyConfig,
  encode,
  goldenDir,
  goldenWeights,
  rawEntries,
  rawSafetensors,
  tempDir,
  writeTorchSave,
} from '../helpers/checkpoints.ts';
import { runCli } from '../helpers/cli.ts';

/** The naive twin: the first index whose value is not finite. */
const naive = (a: Float32Array) => a.findIndex((v) => !Number.isFinite(v));

test('firstNonFinite equals its naive twin: lengths around the block and unroll edges, NaN/±Inf anywhere', () => {
  const rng = new Rng(7);
  for (const n of [0, 1, 3, 4, 5, 4095, 4096, 4097, 8191, 12289]) {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = rng.normal() * 10 ** rng.int(20);
    assert.equal(firstNonFinite(a), -1, `n=${n}`);
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const at of n ? [0, n - 1, rng.int(n)] : []) {
        const b = Float32Array.from(a);
        b[at] = bad;
        if (n > 2 && at !== n - 1) b[n - 1] = NaN; // a later one does not hide the first
        assert.equal(firstNonFinite(b), naive(b), `n=${n} at=${at} ${bad}`);
        assert.equal(firstNonFinite(b), at);
      }
    }
  }
  // extremes that are finite: the largest float32, subnormals, −0
  assert.equal(firstNonFinite(new Float32Array([3.4028234e38, -3.4028234e38, 1e-45, -0, 0])), -1);
  assert.deepEqual(unravelIndex(300, [64, 256]), [1, 44]);
  assert.deepEqual(unravelIndex(5, [5, 2, 3]), [0, 1, 2]);
  assert.deepEqual(unravelIndex(0, []), []);
});

/** gpt2-a's weights with `value` at flat index `at` of `name`. */
function damaged(name: string, at: number, value: number): Map<string, Tensor> {
  const w = goldenWeights('gpt2-a');
  const t = w.get(name)!;
  const data = Float32Array.from(t.data);
  data[at] = value;
  w.set(name, { data, shape: t.shape });
  return w;
}

test('the loader refuses NaN/±Inf in F32, F16 and BF16 safetensors and in pytorch_model.bin, naming file, tensor and index', (t) => {
  const cases: [DType, number][] = [
    ['F32', NaN],
    ['F16', Infinity],
    ['BF16', -Infinity],
  ];
  for (const [dtype, bad] of cases) {
    const dir = tempDir(t);
    copyConfig('gpt2-a', dir);
    rawSafetensors(
      join(dir, 'model.safetensors'),
      rawEntries(damaged('transformer.h.1.mlp.c_fc.weight', 300, bad), dtype),
    );
    assert.throws(
      () => loadModel(dir),
      (e: Error) =>
        e instanceof CheckpointError &&
        e.message ===
          `model.safetensors: tensor "transformer.h.1.mlp.c_fc.weight" holds ${bad} at flat index 300 (element [1, 44]); the weights are damaged (an interrupted download or copy, a bad disk?) — download the checkpoint again or re-export it`,
      dtype,
    );
    // headers alone (inspect without --check) still load: nothing is read
    assert.equal(loadModel(dir, { keep: () => false }).weights.size, 0);
  }
  const bin = tempDir(t);
  copyConfig('gpt2-a', bin);
  writeTorchSave(join(bin, 'pytorch_model.bin'), damaged('transformer.ln_f.bias', 5, NaN), 'BF16');
  assert.throws(
    () => loadModel(bin),
    /^CheckpointError: pytorch_model\.bin: tensor "transformer\.ln_f\.bias" holds NaN at flat index 5; the weights are damaged/,
  );
});

test('a buffer the architecture ignores may hold -inf (GPT-2 attn.masked_bias): the model loads', (t) => {
  const dir = tempDir(t);
  copyConfig('gpt2-a', dir);
  const inf = { dtype: 'F32', shape: [], bytes: encode({ data: new Float32Array([-Infinity]), shape: [] }, 'F32') };
  rawSafetensors(join(dir, 'model.safetensors'), [
    ...rawEntries(goldenWeights('gpt2-a')),
    { name: 'transformer.h.0.attn.masked_bias', ...inf },
    { name: 'transformer.h.1.attn.masked_bias', ...inf },
  ]);
  const m = loadModel(dir);
  assert.equal(m.info.ignored.length, 2);
  const c = checkWeights(dir);
  assert.equal(c.refusal, null);
  assert.deepEqual(
    c.findings.map((f) => [f.severity, f.tensor]),
    [
      ['note', 'transformer.h.0.attn.masked_bias'],
      ['note', 'transformer.h.1.attn.masked_bias'],
    ],
  );
  assert.match(c.findings[0].message, /-Infinity ×1\) in a buffer the architecture ignores; harmless/);
});

test("checkWeights: statistics, every NaN/Inf counted, all-zero matrices and vectors, the loader's refusal", (t) => {
  const dir = tempDir(t);
  copyConfig('gpt2-a', dir);
  const w = damaged('transformer.h.0.attn.c_proj.weight', 70, Infinity);
  const cp = w.get('transformer.h.0.attn.c_proj.weight')!;
  cp.data[71] = NaN;
  cp.data[4000] = -Infinity;
  w.set('transformer.h.1.mlp.c_fc.weight', { data: new Float32Array(64 * 256), shape: [64, 256] });
  w.set('transformer.h.1.mlp.c_fc.bias', { data: new Float32Array(256), shape: [256] });
  rawSafetensors(join(dir, 'model.safetensors'), rawEntries(w));
  const c = checkWeights(dir);
  assert.equal(c.tensors.length, 28);
  const s = c.tensors.find((x) => x.name === 'transformer.h.0.attn.c_proj.weight')!;
  assert.deepEqual(
    [s.nan, s.posInf, s.negInf, s.firstNonFinite],
    [1, 1, 1, { index: 70, element: [1, 6], value: 'Infinity' }],
  );
  const finite = Array.from(cp.data).filter(Number.isFinite);
  assert.ok(Math.abs(s.mean! - finite.reduce((a, b) => a + b, 0) / finite.length) < 1e-9);
  assert.equal(s.max, Math.max(...finite));
  assert.deepEqual(
    c.findings.map((f) => [f.severity, f.tensor]),
    [
      ['error', 'transformer.h.0.attn.c_proj.weight'],
      ['warning', 'transformer.h.1.mlp.c_fc.weight'],
      ['note', 'transformer.h.1.mlp.c_fc.bias'],
    ],
  );
  assert.equal(
    c.findings[0].message,
    '3 non-finite value(s) (NaN ×1, Infinity ×1, -Infinity ×1), first at flat index 70 (element [1, 6])',
  );
  assert.match(
    c.refusal!,
    /^model\.safetensors: tensor "transformer\.h\.0\.attn\.c_proj\.weight" holds Infinity at flat index 70 \(element \[1, 6\]\)/,
  );
});

test("siblingOutliers: a block tensor 10× off its siblings' median RMS is flagged; two blocks are too few", () => {
  const mk = (name: string, rms: number): TensorCheck => ({
    name,
    file: 'f',
    dtype: 'F32',
    shape: [4],
    used: true,
    read: true,
    values: 4,
    nan: 0,
    posInf: 0,
    negInf: 0,
    firstNonFinite: null,
    zeros: 0,
    min: -rms,
    max: rms,
    mean: 0,
    rms,
  });
  assert.equal(siblingKey('model.layers.12.mlp.up_proj.weight'), 'model.layers.*.mlp.up_proj.weight');
  assert.equal(siblingKey('lm_head.weight'), null);
  const found = siblingOutliers([0.02, 0.021, 0.5, 0.019, 0.001].map((r, i) => mk(`h.${i}.w`, r)));
  assert.deepEqual(
    found.map((f) => f.tensor),
    ['h.2.w', 'h.4.w'],
  );
  assert.match(
    found[0].message,
    /root mean square 0\.500 is 25\.0× above the median 0\.0200 of its 5 siblings h\.\*\.w/,
  );
  assert.match(found[1].message, /20\.0× below/);
  assert.deepEqual(siblingOutliers([mk('h.0.w', 1), mk('h.1.w', 100)]), []);
});

test("inspect --check through the CLI: the report, then the loader's one line and exit 2; --json carries the findings", (t) => {
  const dir = tempDir(t);
  copyConfig('gpt2-a', dir);
  rawSafetensors(join(dir, 'model.safetensors'), rawEntries(damaged('transformer.h.1.mlp.c_fc.weight', 300, NaN)));
  const r = runCli(['inspect', '--model', dir, '--check']);
  assert.equal(r.code, 2);
  assert.match(r.stdout, /^check {8}28 tensors read \(172,288 values\): 1 error, 0 warnings, 0 notes$/m);
  assert.match(
    r.stdout,
    /^ {2}error {4}transformer\.h\.1\.mlp\.c_fc\.weight: 1 non-finite value\(s\) \(NaN ×1\), first at flat index 300 \(element \[1, 44\]\)$/m,
  );
  assert.equal(
    r.stderr,
    'langquant: model.safetensors: tensor "transformer.h.1.mlp.c_fc.weight" holds NaN at flat index 300 (element [1, 44]); the weights are damaged (an interrupted download or copy, a bad disk?) — download the checkpoint again or re-export it\n',
  );
  const j = runCli(['inspect', '--model', dir, '--check', '--json']);
  assert.equal(j.code, 2);
  const out = JSON.parse(j.stdout) as {
    check: { findings: { severity: string }[]; tensors: { name: string; nan: number }[] };
  };
  assert.deepEqual(
    out.check.findings.map((f) => f.severity),
    ['error'],
  );
  assert.equal(out.check.tensors.find((x) => x.name === 'transformer.h.1.mlp.c_fc.weight')!.nan, 1);
  // the golden model itself: nothing to report, exit 0
  const ok = runCli(['inspect', '--model', goldenDir('gpt2-a'), '--check']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /: 0 errors, 0 warnings, 0 notes$/m);
});
